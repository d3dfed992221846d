import Foundation

/// What a results bundle's files must hold beyond their hashes, the same rules and order as the Python reader
/// (`_check_references`, `_check_tensors` in `mlupdate.bundle.results_reader`): every file the manifest refers to
/// is a listed file of the right kind, parameters are float32 `.npy` of their declared shape, and probe outputs
/// have one row (or label) per probe example and one column per class.
enum ResultsContent {
    static func check(_ manifest: ResultsManifest, root: URL) throws(CompanionError) {
        try checkReferences(manifest)
        try checkTensors(manifest, root: root)
    }

    private static func refuse(_ field: String, _ reason: String) -> CompanionError {
        .invalidManifest(file: ResultsManifest.fileName, field: field, reason: reason)
    }

    private static func requireListed(_ path: String, field: String, in files: [String: String])
        throws(CompanionError)
    {
        try BundlePath.validate(path, field: field)
        guard files[path] != nil else { throw .missingFile(path: path) }
    }

    private static func checkReferences(_ manifest: ResultsManifest) throws(CompanionError) {
        let files = manifest.files
        try requireListed(manifest.events.path, field: "events.path", in: files)
        if let model = manifest.model {
            if model.format == .mlmodelc {
                try BundlePath.validate(model.path, field: "model.path")
                guard files.keys.contains(where: { $0.hasPrefix(model.path + "/") }) else {
                    throw .missingFile(path: model.path + "/")
                }
            } else {
                try requireListed(model.path, field: "model.path", in: files)
            }
        }
        for (index, parameter) in manifest.parameters.enumerated() {
            guard parameter.path.hasSuffix(".npy") else {
                throw refuse("parameters[\(index)].path", "parameters are .npy files")
            }
            try requireListed(parameter.path, field: "parameters[\(index)].path", in: files)
        }
        for (index, output) in (manifest.probe?.outputs ?? []).enumerated() {
            let suffix = output.type == .multiArray || output.type == .dictionary ? ".npy" : ".json"
            guard output.path.hasSuffix(suffix) else {
                throw refuse("probe", "a \(output.type.rawValue) output is a \(suffix) file")
            }
            try requireListed(output.path, field: "probe.outputs[\(index)].path", in: files)
        }
    }

    private static func checkTensors(_ manifest: ResultsManifest, root: URL) throws(CompanionError) {
        for (index, parameter) in manifest.parameters.enumerated() {
            let (dtype, shape, _) = try NpyArray.header(
                ofFileAt: root.appendingPathComponent(parameter.path), path: parameter.path)
            guard dtype == .float32, shape == parameter.shape else {
                throw refuse(
                    "parameters[\(index)]",
                    "'\(parameter.path)' holds \(dtype.rawValue) \(shape), the manifest says <f4 \(parameter.shape)")
            }
        }
        guard let probe = manifest.probe else { return }
        for (index, output) in probe.outputs.enumerated() {
            let field = "probe.outputs[\(index)]"
            let url = root.appendingPathComponent(output.path)
            switch output.type {
            case .multiArray, .dictionary:
                let (dtype, shape, _) = try NpyArray.header(ofFileAt: url, path: output.path)
                let wrongColumns =
                    output.type == .dictionary
                    && (output.classes == nil || Array(shape.dropFirst()) != [output.classes?.count ?? -1])
                guard dtype == .float32, let rows = shape.first, rows == probe.count, !wrongColumns else {
                    throw refuse(
                        field, "'\(output.path)' holds \(dtype.rawValue) \(shape), expected <f4 with \(probe.count) rows")
                }
            case .string:
                try checkLabels(url, output: output, count: probe.count, field: field, as: String.self)
            case .int64:
                try checkLabels(url, output: output, count: probe.count, field: field, as: Int64.self)
            }
        }
    }

    private static func checkLabels<Value: Decodable>(
        _ url: URL, output: ProbeOutput, count: Int, field: String, as _: Value.Type
    ) throws(CompanionError) {
        let data = try BoundedFile.read(url, limit: Limits.labelsBytes, path: output.path)
        let values: [Value]
        do {
            values = try ContractJSON.decode([Value].self, from: data, file: output.path)
        } catch {
            throw refuse(field, "'\(output.path)' must be a JSON list of \(count) \(output.type.rawValue) values")
        }
        guard values.count == count else {
            throw refuse(field, "'\(output.path)' must be a JSON list of \(count) \(output.type.rawValue) values")
        }
    }
}
