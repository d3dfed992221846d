// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLModel.parameterValue(for:)` (iOS 13 / macOS 10.15)
// - `MLModel.predictions(fromBatch:)` (iOS 12 / macOS 10.14); `MLBatchProvider.count`, `features(at:)` (iOS 12)
// - `MLModel.modelDescription`, `MLModelDescription.outputDescriptionsByName` (iOS 11 / macOS 10.13)
// - `MLModelDescription.classLabels` (iOS 14 / macOS 11)
// - `MLFeatureProvider.featureValue(for:)`; `MLFeatureValue.multiArrayValue`, `.dictionaryValue`, `.stringValue`,
//   `.int64Value`, `.doubleValue`; `MLFeatureType` (iOS 11 / macOS 10.13)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation

    /// A file destined for the results bundle, already encoded.
    struct ArtifactFile: Sendable {
        let path: String
        let data: Data
    }

    /// Which layers to dump: the job's updatable layers, scoped to the updatable sub-model of a pipeline.
    struct DumpRequest: Sendable {
        let layers: [String]
        let scope: String

        init(job: JobManifest) {
            layers = job.model.updatableLayers
            scope = job.model.updateScope
        }
    }

    /// One dumped tensor as plain values: it leaves Core ML's queue, unlike the `MLMultiArray` it came from.
    struct DumpedTensor: Sendable, Equatable {
        let layer: String
        let scope: String
        let kind: ParameterArtifact.Kind
        let shape: [Int]
        let values: [Float]
    }

    /// The updated layers' parameters, read with `parameterValue(for:)`: from `context.model` in the completion
    /// handler (the primary dump) and from the written model loaded again (the cross-check).
    enum ParameterDump {
        static func read(_ model: MLModel, request: DumpRequest) throws -> [DumpedTensor] {
            var tensors: [DumpedTensor] = []
            for layer in request.layers {
                for kind in [ParameterArtifact.Kind.weights, .biases] {
                    let key = ModelConfiguration.layerKey(kind, layer: layer, scope: request.scope)
                    guard let array = try model.parameterValue(for: key) as? MLMultiArray else {
                        throw CompanionError.invalidManifest(
                            file: "(model)", field: "\(layer).\(kind.rawValue)", reason: "is not an MLMultiArray"
                        )
                    }
                    // Core ML's own shape is kept; the host maps it onto the spec layout if they differ.
                    let (shape, values) = try MultiArrays.floats(of: array)
                    tensors.append(DumpedTensor(layer: layer, scope: request.scope, kind: kind, shape: shape, values: values))
                }
            }
            return tensors
        }

        /// The results entries and `.npy` files of a dump, labelled with the read that produced it.
        static func artifacts(_ tensors: [DumpedTensor], source: ParameterArtifact.Source) throws -> (
            entries: [ParameterArtifact], files: [ArtifactFile]
        ) {
            var entries: [ParameterArtifact] = []
            var files: [ArtifactFile] = []
            for tensor in tensors {
                let entry = ParameterArtifact(
                    layer: tensor.layer, scope: tensor.scope, kind: tensor.kind, shape: tensor.shape, source: source)
                let npy = try NpyArray(shape: tensor.shape, storage: .float32(tensor.values))
                entries.append(entry)
                files.append(ArtifactFile(path: entry.path, data: npy.encoded()))
            }
            return (entries, files)
        }

        /// The largest absolute difference between two dumps of the same tensors (`nil`: not the same tensors).
        static func largestDifference(_ lhs: [DumpedTensor], _ rhs: [DumpedTensor]) -> Float? {
            guard lhs.count == rhs.count else { return nil }
            var largest: Float = 0
            for (left, right) in zip(lhs, rhs) {
                guard left.layer == right.layer, left.kind == right.kind, left.values.count == right.values.count
                else { return nil }
                for (a, b) in zip(left.values, right.values) {
                    let difference = abs(a - b)
                    if difference.isNaN || difference > largest { largest = difference.isNaN ? .infinity : difference }
                }
            }
            return largest
        }
    }

    /// Predictions for the probe set, one file per model output.
    enum ProbeRun {
        static func predict(_ model: MLModel, batch: MLArrayBatchProvider) throws -> (ProbeResults, [ArtifactFile]) {
            let predictions = try model.predictions(fromBatch: batch)
            let rows = (0..<predictions.count).map { predictions.features(at: $0) }
            var outputs: [ProbeOutput] = []
            var files: [ArtifactFile] = []
            let descriptions = model.modelDescription.outputDescriptionsByName
            for name in descriptions.keys.sorted() {
                guard let description = descriptions[name],
                    let collected = try collect(name, type: description.type, rows: rows, model: model)
                else { continue }
                outputs.append(collected.0)
                files.append(collected.1)
            }
            return (ProbeResults(count: rows.count, outputs: outputs), files)
        }

        private static func collect(
            _ name: String, type: MLFeatureType, rows: [any MLFeatureProvider], model: MLModel
        ) throws -> (ProbeOutput, ArtifactFile)? {
            let values = rows.map { $0.featureValue(for: name) }
            switch type {
            case .multiArray:
                let arrays = try values.map { value throws -> (shape: [Int], values: [Float]) in
                    guard let array = value?.multiArrayValue else { throw missing(name) }
                    return try MultiArrays.floats(of: array)
                }
                let shape = arrays.first?.shape ?? []
                guard arrays.allSatisfy({ $0.shape == shape }) else { throw mixedShapes(name) }
                return try arrayOutput(
                    name, type: .multiArray, shape: [arrays.count] + shape,
                    values: arrays.flatMap(\.values), classes: nil)
            case .double:
                let numbers = try values.map { value throws -> Float in
                    guard let value else { throw missing(name) }
                    return Float(value.doubleValue)
                }
                return try arrayOutput(name, type: .multiArray, shape: [numbers.count], values: numbers, classes: nil)
            case .dictionary:
                return try dictionaryOutput(name, values: values, model: model)
            case .string:
                let labels = try values.map { value throws -> String in
                    guard let value else { throw missing(name) }
                    return value.stringValue
                }
                return try jsonOutput(name, type: .string, labels)
            case .int64:
                let labels = try values.map { value throws -> Int64 in
                    guard let value else { throw missing(name) }
                    return value.int64Value
                }
                return try jsonOutput(name, type: .int64, labels)
            default:
                // Images, sequences and states are not outputs of updatable models; nothing to compare.
                return nil
            }
        }

        /// Probabilities `[M, C]`: columns in the model's class-label order, then (sorted) any label the
        /// predictions hold that the description does not declare. A k-NN learns labels on the device that its
        /// shipped `classLabels` may lack; dropping their columns would lose the probability mass parity checks.
        private static func dictionaryOutput(
            _ name: String, values: [MLFeatureValue?], model: MLModel
        ) throws -> (ProbeOutput, ArtifactFile) {
            let rows = try values.map { value throws -> [ClassLabel: Float] in
                guard let dictionary = value?.dictionaryValue else { throw missing(name) }
                var row: [ClassLabel: Float] = [:]
                for (key, probability) in dictionary {
                    guard let label = classLabel(key.base) else { throw missing(name) }
                    row[label] = probability.floatValue
                }
                return row
            }
            let declared = (model.modelDescription.classLabels ?? []).compactMap(classLabel)
            let known = Set(declared)
            let learned = Set(rows.flatMap(\.keys)).filter { !known.contains($0) }
            let classes = declared + learned.sorted(by: ordered)
            let values = rows.flatMap { row in classes.map { row[$0] ?? 0 } }
            return try arrayOutput(
                name, type: .dictionary, shape: [rows.count, classes.count], values: values,
                classes: classes)
        }

        private static func classLabel(_ value: Any) -> ClassLabel? {
            if let text = value as? String { return .string(text) }
            if let number = value as? NSNumber { return .int64(number.int64Value) }
            if let number = value as? Int64 { return .int64(number) }
            return nil
        }

        private static func ordered(_ lhs: ClassLabel, _ rhs: ClassLabel) -> Bool {
            switch (lhs, rhs) {
            case let (.string(left), .string(right)): left < right
            case let (.int64(left), .int64(right)): left < right
            case (.int64, .string): true
            case (.string, .int64): false
            }
        }

        private static func arrayOutput(
            _ name: String, type: ProbeOutput.Kind, shape: [Int], values: [Float], classes: [ClassLabel]?
        ) throws -> (ProbeOutput, ArtifactFile) {
            let path = "probe/\(name).npy"
            try BundlePath.validate(path, field: "probe output \(name)")
            let npy = try NpyArray(shape: shape, storage: .float32(values))
            return (
                ProbeOutput(name: name, type: type, path: path, classes: classes),
                ArtifactFile(path: path, data: npy.encoded())
            )
        }

        private static func jsonOutput<Label: Encodable>(
            _ name: String, type: ProbeOutput.Kind, _ labels: [Label]
        ) throws -> (ProbeOutput, ArtifactFile) {
            let path = "probe/\(name).json"
            try BundlePath.validate(path, field: "probe output \(name)")
            let data = try ContractJSON.lineEncoder().encode(labels)
            return (ProbeOutput(name: name, type: type, path: path), ArtifactFile(path: path, data: data))
        }

        private static func missing(_ name: String) -> CompanionError {
            .invalidManifest(file: "(predictions)", field: name, reason: "is missing or has an unexpected type")
        }

        private static func mixedShapes(_ name: String) -> CompanionError {
            .invalidManifest(file: "(predictions)", field: name, reason: "has different shapes across probe examples")
        }
    }
#endif
