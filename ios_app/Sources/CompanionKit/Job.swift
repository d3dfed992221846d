import Foundation

/// The contract version this build reads and writes (`docs/contract.md`, schema version 1).
public enum ContractVersion {
    public static let current = 1
    public static let supported = [1]
}

/// `job.json`: what the host asks the companion app to do.
public struct JobManifest: Codable, Equatable, Sendable {
    public static let kindName = "mlupdate.job"
    public static let fileName = "job.json"

    public var schemaVersion: Int
    public var kind: String
    public var jobID: String
    public var createdBy: String
    public var model: JobModel
    /// Overrides for `MLModelConfiguration.parameters`, keyed by `MLParameterKey` raw name.
    public var parameters: [String: ParameterValue]
    public var events: [ProgressEventKind]
    public var computeUnits: ComputeUnitsName
    public var repeatCount: Int
    public var deadlineSeconds: Double
    public var training: ExampleSet
    public var probe: ExampleSet?
    /// sha256 of every file in the bundle except `job.json`, keyed by relative path.
    public var files: [String: String]
    /// The parity case whose tolerances the host applies (`case`); the app only carries it.
    public var parityCase: String?
    /// Learning rates set at epoch boundaries during the task (`schedule`; empty: the rate stays).
    public var schedule: [LearningRateStep]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion = "schema_version", kind, jobID = "job_id", createdBy = "created_by", model, parameters
        case events, computeUnits = "compute_units", repeatCount = "repeat", deadlineSeconds = "deadline_seconds"
        case training, probe, files, parityCase = "case", schedule
    }

    /// The learning rate epoch `epoch` starts with, when the schedule changes it there: what the `epochEnd`
    /// handler of epoch `epoch - 1` passes to `resume(withParameters:)`.
    public func learningRate(startingEpoch epoch: Int) -> Double? {
        schedule.first { $0.epoch == epoch }?.learningRate
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        kind = try container.decode(String.self, forKey: .kind)
        jobID = try container.decode(String.self, forKey: .jobID)
        createdBy = try container.decode(String.self, forKey: .createdBy)
        model = try container.decode(JobModel.self, forKey: .model)
        parameters = try container.decode([String: ParameterValue].self, forKey: .parameters)
        events = try container.decode([ProgressEventKind].self, forKey: .events)
        computeUnits = try container.decode(ComputeUnitsName.self, forKey: .computeUnits)
        repeatCount = try container.decode(Int.self, forKey: .repeatCount)
        deadlineSeconds = try container.decode(Double.self, forKey: .deadlineSeconds)
        training = try container.decode(ExampleSet.self, forKey: .training)
        probe = try container.decode(ExampleSet?.self, forKey: .probe)
        files = try container.decode([String: String].self, forKey: .files)
        // Optional keys, but never null when present (the schema says string / array).
        parityCase = container.contains(.parityCase) ? try container.decode(String.self, forKey: .parityCase) : nil
        schedule =
            container.contains(.schedule) ? try container.decode([LearningRateStep].self, forKey: .schedule) : []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(model, forKey: .model)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(events, forKey: .events)
        try container.encode(computeUnits, forKey: .computeUnits)
        try container.encode(repeatCount, forKey: .repeatCount)
        try container.encode(deadlineSeconds, forKey: .deadlineSeconds)
        try container.encode(training, forKey: .training)
        try container.encode(probe, forKey: .probe)  // null, not absent: the schema requires the key
        try container.encode(files, forKey: .files)
        try container.encodeIfPresent(parityCase, forKey: .parityCase)
        if !schedule.isEmpty {  // optional in the schema: absent, not empty, when the rate stays
            try container.encode(schedule, forKey: .schedule)
        }
    }
}

/// Names of parity cases (`case` in `job.json`): `^[a-z0-9][a-z0-9_-]{0,63}$`.
public enum ParityCase {
    public static func isValid(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 64, isLowerAlphanumeric(first) else { return false }
        return scalars.dropFirst().allSatisfy { isLowerAlphanumeric($0) || $0 == "_" || $0 == "-" }
    }

    private static func isLowerAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}

/// One step of a learning-rate schedule: from epoch `epoch` (0-based, at least 1) on, train at `learningRate`.
public struct LearningRateStep: Codable, Equatable, Sendable {
    public var epoch: Int
    public var learningRate: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epoch, learningRate
    }

    public init(epoch: Int, learningRate: Double) {
        self.epoch = epoch
        self.learningRate = learningRate
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try container.decode(Int.self, forKey: .epoch)
        learningRate = try container.decode(Double.self, forKey: .learningRate)
    }
}

/// The `model` object of `job.json`.
public struct JobModel: Codable, Equatable, Sendable {
    public var path: String
    public var format: ModelFormat
    /// sha256 of the `.mlmodel` file; `nil` for a compiled model, whose files are hashed in `files`.
    public var sha256: String?
    /// The spec's model type, e.g. `neuralNetworkClassifier`, `pipelineClassifier`, `kNearestNeighborsClassifier`.
    public var kind: String
    /// Parameter scope of the updatable sub-model: `""`, or e.g. `model1` inside a pipeline.
    public var updateScope: String
    public var updatableLayers: [String]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, format, sha256, kind, updateScope = "update_scope", updatableLayers = "updatable_layers"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        format = try container.decode(ModelFormat.self, forKey: .format)
        sha256 = try container.decode(String?.self, forKey: .sha256)
        kind = try container.decode(String.self, forKey: .kind)
        updateScope = try container.decode(String.self, forKey: .updateScope)
        updatableLayers = try container.decode([String].self, forKey: .updatableLayers)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
        try container.encode(format, forKey: .format)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(kind, forKey: .kind)
        try container.encode(updateScope, forKey: .updateScope)
        try container.encode(updatableLayers, forKey: .updatableLayers)
    }

    /// The file name without its extension, e.g. `MNIST` for `model/MNIST.mlmodel`.
    public var name: String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = last.lastIndex(of: ".") else { return last }
        return String(last[..<dot])
    }
}

public enum ModelFormat: String, Codable, Sendable, CaseIterable {
    case mlmodel
    case mlmodelc
}

/// A value for one `MLParameterKey`: the contract allows numbers and booleans.
public enum ParameterValue: Codable, Equatable, Sendable {
    case bool(Bool)
    case int(Int)
    case double(Double)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = try .double(container.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .bool(value): try container.encode(value)
        case let .int(value): try container.encode(value)
        case let .double(value): try container.encode(value)
        }
    }
}

/// The `MLParameterKey` raw names a job may override.
public enum ParameterName: String, CaseIterable, Sendable {
    case learningRate, momentum, miniBatchSize, beta1, beta2, eps, epochs, shuffle, seed, numberOfNeighbors

    /// Whether `value` has the JSON type this key takes (counts are integers, `shuffle` a boolean).
    public func accepts(_ value: ParameterValue) -> Bool {
        switch (self, value) {
        case (.shuffle, .bool): true
        case (.miniBatchSize, let .int(count)), (.epochs, let .int(count)), (.numberOfNeighbors, let .int(count)):
            count >= 1
        case (.seed, .int): true
        case (.learningRate, .int), (.momentum, .int), (.beta1, .int), (.beta2, .int), (.eps, .int): true
        case (.learningRate, let .double(number)), (.momentum, let .double(number)), (.beta1, let .double(number)),
            (.beta2, let .double(number)), (.eps, let .double(number)):
            number.isFinite
        default: false
        }
    }
}

/// Progress events the app registers handlers for (`MLUpdateProgressEvent`), plus the completion line.
public enum ProgressEventKind: String, Codable, Sendable, CaseIterable {
    case trainingBegin, epochEnd, miniBatchEnd
}

/// `MLComputeUnits` by name.
public enum ComputeUnitsName: String, Codable, Sendable, CaseIterable {
    case cpuOnly, cpuAndGPU, all, cpuAndNeuralEngine
}

/// `{"count": N, "features": [...]}`: examples in the order Core ML sees them.
public struct ExampleSet: Codable, Equatable, Sendable {
    public var count: Int
    public var features: [Feature]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case count, features
    }

    public init(count: Int, features: [Feature]) {
        self.count = count
        self.features = features
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        count = try container.decode(Int.self, forKey: .count)
        features = try container.decode([Feature].self, forKey: .features)
    }
}

public enum ColorSpace: String, Codable, Sendable, CaseIterable {
    case grayscale = "GRAYSCALE"
    case rgb = "RGB"
    case bgr = "BGR"
}

/// Element type of a multiArray feature file.
public enum FeatureDType: String, Codable, Sendable, CaseIterable {
    case float32, float64, int32
}

/// One feature of an example set, and where its N values are stored.
public struct Feature: Codable, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A folder of PNGs `000000.png` … named by example index.
        case image(width: Int, height: Int, colorSpace: ColorSpace)
        /// One `.npy` file `[N, *shape]`.
        case multiArray(dtype: FeatureDType, shape: [Int])
        /// A JSON list of N strings.
        case string
        /// A JSON list of N integers.
        case int64
    }

    public var name: String
    public var path: String
    public var kind: Kind

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, type, path, width, height, colorSpace = "color_space", dtype, shape
    }

    public init(name: String, path: String, kind: Kind) {
        self.name = name
        self.path = path
        self.kind = kind
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        path = try container.decode(String.self, forKey: .path)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "image":
            try decoder.rejectUnknownKeys(ImageKeys.self)
            kind = try .image(
                width: container.decode(Int.self, forKey: .width),
                height: container.decode(Int.self, forKey: .height),
                colorSpace: container.decode(ColorSpace.self, forKey: .colorSpace)
            )
        case "multiArray":
            try decoder.rejectUnknownKeys(MultiArrayKeys.self)
            kind = try .multiArray(
                dtype: container.decode(FeatureDType.self, forKey: .dtype),
                shape: container.decode([Int].self, forKey: .shape)
            )
        case "string":
            try decoder.rejectUnknownKeys(PlainKeys.self)
            kind = .string
        case "int64":
            try decoder.rejectUnknownKeys(PlainKeys.self)
            kind = .int64
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "unknown feature type '\(type)' (expected image, multiArray, string or int64)"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(path, forKey: .path)
        switch kind {
        case let .image(width, height, colorSpace):
            try container.encode("image", forKey: .type)
            try container.encode(width, forKey: .width)
            try container.encode(height, forKey: .height)
            try container.encode(colorSpace, forKey: .colorSpace)
        case let .multiArray(dtype, shape):
            try container.encode("multiArray", forKey: .type)
            try container.encode(dtype, forKey: .dtype)
            try container.encode(shape, forKey: .shape)
        case .string:
            try container.encode("string", forKey: .type)
        case .int64:
            try container.encode("int64", forKey: .type)
        }
    }

    enum ImageKeys: String, CodingKey, CaseIterable {
        case name, type, path, width, height, colorSpace = "color_space"
    }

    enum MultiArrayKeys: String, CodingKey, CaseIterable {
        case name, type, path, dtype, shape
    }

    enum PlainKeys: String, CodingKey, CaseIterable {
        case name, type, path
    }

    /// Relative path of example `index`'s PNG inside an image feature's folder.
    public static func imagePath(folder: String, index: Int) -> String {
        let digits = String(index)
        return folder + "/" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".png"
    }
}
