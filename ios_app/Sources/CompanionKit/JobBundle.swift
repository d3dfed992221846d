import Foundation

/// A job bundle that passed every check of the contract: version, job id, paths, hashes and the layout of
/// the model and example files. Nothing in it is trusted before `open` returns.
public struct JobBundle: Sendable {
    public let root: URL
    public let manifest: JobManifest

    /// Reads and checks the bundle at `root`. `expectedJobID`, when given, must equal the manifest's job id.
    public static func open(at root: URL, expectedJobID: String? = nil) throws(CompanionError) -> JobBundle {
        let file = JobManifest.fileName
        let data = try BundleFiles.readTopLevelFile(file, in: root, limit: Limits.manifestBytes)
        try BundleFiles.checkSchemaVersion(data, file: file)
        let manifest = try ContractJSON.decode(JobManifest.self, from: data, file: file)
        try checkFields(manifest)
        try ContractRules.check(manifest)
        if let expectedJobID, expectedJobID != manifest.jobID {
            throw .jobIDMismatch(file: file, expected: expectedJobID, found: manifest.jobID)
        }
        try checkPaths(manifest)
        try BundleFiles.verify(root: root, listed: manifest.files, exempt: [file])
        let bundle = JobBundle(root: root, manifest: manifest)
        try bundle.checkModel()
        try bundle.checkExamples(manifest.training, field: "training")
        if let probe = manifest.probe {
            try bundle.checkExamples(probe, field: "probe")
        }
        return bundle
    }

    /// The URL of a bundle path (already checked by `open`).
    public func url(for path: String) -> URL {
        root.appendingPathComponent(path)
    }

    public var modelURL: URL {
        url(for: manifest.model.path)
    }

    // MARK: - Field rules

    private static func checkFields(_ job: JobManifest) throws(CompanionError) {
        let file = JobManifest.fileName
        func refuse(_ field: String, _ reason: String) -> CompanionError {
            .invalidManifest(file: file, field: field, reason: reason)
        }
        guard job.kind == JobManifest.kindName else {
            throw refuse("kind", "is '\(job.kind)', expected 'mlupdate.job'")
        }
        guard JobID.isValid(job.jobID) else {
            throw refuse("job_id", "'\(job.jobID)' does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
        }
        guard job.repeatCount >= 1 else { throw refuse("repeat", "is \(job.repeatCount), must be at least 1") }
        guard job.deadlineSeconds.isFinite, job.deadlineSeconds > 0 else {
            throw refuse("deadline_seconds", "is \(job.deadlineSeconds), must be a positive number")
        }
        for (key, value) in job.parameters.sorted(by: { $0.key < $1.key }) {
            guard let name = ParameterName(rawValue: key) else {
                let known = ParameterName.allCases.map(\.rawValue).joined(separator: ", ")
                throw refuse("parameters.\(key)", "is not an MLParameterKey the contract allows (\(known))")
            }
            guard name.accepts(value) else {
                throw refuse("parameters.\(key)", "has the wrong type or range (\(value))")
            }
        }
        guard Set(job.events).count == job.events.count else { throw refuse("events", "lists an event twice") }
        if let parityCase = job.parityCase, !ParityCase.isValid(parityCase) {
            throw refuse("case", "'\(parityCase)' does not match ^[a-z0-9][a-z0-9_-]{0,63}$")
        }
        try checkSchedule(job)
        try checkModelFields(job.model)
        try checkExampleFields(job.training, field: "training")
        if let probe = job.probe {
            try checkExampleFields(probe, field: "probe")
        }
    }

    /// The rules the schema and the host's reader hold a schedule to: epochs from 1, strictly increasing,
    /// positive finite rates, and an `epochEnd` handler to apply them from.
    private static func checkSchedule(_ job: JobManifest) throws(CompanionError) {
        let file = JobManifest.fileName
        var previous = 0
        for (index, step) in job.schedule.enumerated() {
            guard step.epoch >= 1, step.epoch > previous else {
                throw .invalidManifest(
                    file: file, field: "schedule[\(index)].epoch",
                    reason: "is \(step.epoch); epochs start at 1 and must increase")
            }
            guard step.learningRate.isFinite, step.learningRate > 0 else {
                throw .invalidManifest(
                    file: file, field: "schedule[\(index)].learningRate",
                    reason: "is \(step.learningRate), must be a positive number")
            }
            previous = step.epoch
        }
        if !job.schedule.isEmpty, !job.events.contains(.epochEnd) {
            throw .invalidManifest(
                file: file, field: "events", reason: "a schedule is applied from the epochEnd handler: add epochEnd")
        }
    }

    private static func checkModelFields(_ model: JobModel) throws(CompanionError) {
        let file = JobManifest.fileName
        let suffix = "." + model.format.rawValue
        guard model.path.hasSuffix(suffix), model.name.isEmpty == false else {
            throw .invalidManifest(file: file, field: "model.path", reason: "'\(model.path)' must end in '\(suffix)'")
        }
        if let hash = model.sha256, !BundleFiles.isSHA256Hex(hash) {
            throw .invalidManifest(
                file: file, field: "model.sha256", reason: "'\(hash)' is not 64 lowercase hex digits")
        }
        if model.format == .mlmodel, model.sha256 == nil {
            throw .invalidManifest(file: file, field: "model.sha256", reason: "is missing for an .mlmodel")
        }
        if model.updatableLayers.contains(where: \.isEmpty)
            || Set(model.updatableLayers).count != model.updatableLayers.count
        {
            throw .invalidManifest(file: file, field: "model.updatable_layers", reason: "has an empty or repeated name")
        }
    }

    private static func checkExampleFields(_ set: ExampleSet, field: String) throws(CompanionError) {
        let file = JobManifest.fileName
        guard set.count >= 1 else {
            throw .invalidManifest(file: file, field: "\(field).count", reason: "is \(set.count), must be at least 1")
        }
        guard !set.features.isEmpty else {
            throw .invalidManifest(file: file, field: "\(field).features", reason: "is empty")
        }
        var names = Set<String>()
        for (index, feature) in set.features.enumerated() {
            let where_ = "\(field).features[\(index)]"
            guard names.insert(feature.name).inserted else {
                throw .invalidManifest(file: file, field: "\(where_).name", reason: "'\(feature.name)' appears twice")
            }
            switch feature.kind {
            case let .image(width, height, _) where width < 1 || height < 1:
                throw .invalidManifest(
                    file: file, field: where_, reason: "image size \(width)x\(height) is not positive")
            case let .multiArray(_, shape) where shape.isEmpty || shape.contains(where: { $0 < 1 }):
                throw .invalidManifest(
                    file: file, field: "\(where_).shape", reason: "\(shape) must be non-empty and positive")
            default:
                continue
            }
        }
    }

    private static func checkPaths(_ job: JobManifest) throws(CompanionError) {
        try BundlePath.validate(job.model.path, field: "model.path")
        for (set, field) in [(job.training, "training"), (job.probe, "probe")] {
            for (index, feature) in (set?.features ?? []).enumerated() {
                try BundlePath.validate(feature.path, field: "\(field).features[\(index)].path")
            }
        }
    }

    // MARK: - Content rules

    private func checkModel() throws(CompanionError) {
        let model = manifest.model
        let field = "model.path"
        let url = try BundlePath.resolve(model.path, in: root, field: field)
        switch model.format {
        case .mlmodel:
            guard manifest.files[model.path] != nil else { throw .missingFile(path: model.path) }
            // Two hashes in one manifest that disagree: the manifest is wrong, whatever the file holds.
            if let expected = model.sha256, let listed = manifest.files[model.path], expected != listed {
                throw .invalidManifest(
                    file: JobManifest.fileName, field: "model.sha256",
                    reason: "is \(expected) but files lists \(listed) for \(model.path)")
            }
        case .mlmodelc:
            guard BundlePath.entry(at: url) == .directory else { throw .missingFile(path: model.path) }
            guard manifest.files.keys.contains(where: { $0.hasPrefix(model.path + "/") }) else {
                throw .missingFile(path: model.path + "/")
            }
        }
    }

    private func checkExamples(_ set: ExampleSet, field: String) throws(CompanionError) {
        for feature in set.features {
            switch feature.kind {
            case let .image(width, height, colorSpace):
                for index in 0..<set.count {
                    let path = Feature.imagePath(folder: feature.path, index: index)
                    guard manifest.files[path] != nil else { throw .missingFile(path: path) }
                }
                let prefix = feature.path + "/"
                let extra = manifest.files.keys.filter { $0.hasPrefix(prefix) }.count - set.count
                if extra > 0 {
                    throw .invalidManifest(
                        file: feature.path, field: "\(field).count",
                        reason: "is \(set.count) but the folder holds \(set.count + extra) files"
                    )
                }
                for index in 0..<set.count {
                    let path = Feature.imagePath(folder: feature.path, index: index)
                    try PNGHeader.check(
                        url(for: path), path: path, width: width, height: height, grayscale: colorSpace == .grayscale)
                }
            case let .multiArray(dtype, shape):
                try checkArray(feature.path, dtype: dtype, shape: [set.count] + shape)
            case .string:
                try checkLabels(feature.path, count: set.count, as: String.self)
            case .int64:
                try checkLabels(feature.path, count: set.count, as: Int64.self)
            }
        }
    }

    private func checkArray(_ path: String, dtype: FeatureDType, shape: [Int]) throws(CompanionError) {
        guard manifest.files[path] != nil else { throw .missingFile(path: path) }
        let (found, foundShape, _) = try NpyArray.header(ofFileAt: url(for: path), path: path)
        let wanted: NpyDType =
            switch dtype {
            case .float32: .float32
            case .float64: .float64
            case .int32: .int32
            }
        guard found == wanted else {
            throw .invalidNpy(path: path, reason: "dtype is \(found.rawValue), job.json declares \(dtype.rawValue)")
        }
        guard foundShape == shape else {
            throw .invalidNpy(path: path, reason: "shape is \(foundShape), job.json declares \(shape)")
        }
        _ = try NpyArray.read(from: url(for: path), displayPath: path)
    }

    private func checkLabels<Value: Decodable>(_ path: String, count: Int, as _: Value.Type) throws(CompanionError) {
        guard manifest.files[path] != nil else { throw .missingFile(path: path) }
        let values = try labels(path, as: Value.self)
        guard values.count == count else {
            throw .invalidManifest(file: path, field: "(list)", reason: "has \(values.count) values, expected \(count)")
        }
    }

    /// A string or int64 feature's JSON list.
    public func labels<Value: Decodable>(_ path: String, as _: Value.Type) throws(CompanionError) -> [Value] {
        let data = try BoundedFile.read(url(for: path), limit: Limits.labelsBytes, path: path)
        return try ContractJSON.decode([Value].self, from: data, file: path)
    }
}
