// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLModelConfiguration()` and `.computeUnits` (iOS 12 / macOS 10.14)
// - `MLModelConfiguration.parameters` (iOS 13 / macOS 10.15)
// - `MLComputeUnits.cpuOnly`, `.cpuAndGPU`, `.all` (iOS 12 / macOS 10.14); `.cpuAndNeuralEngine` (iOS 16 / macOS 13)
// - `MLParameterKey.learningRate`, `.momentum`, `.miniBatchSize`, `.beta1`, `.beta2`, `.eps`, `.epochs`, `.shuffle`,
//   `.seed`, `.numberOfNeighbors`, `.weights`, `.biases` and `MLParameterKey.scoped(to:)` (iOS 13 / macOS 10.15)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation

    /// `MLModelConfiguration` from a job: compute units and the parameter overrides, scoped to the updatable
    /// sub-model of a pipeline.
    enum ModelConfiguration {
        static func make(for job: JobManifest, computeUnits units: ComputeUnitsName? = nil) -> MLModelConfiguration {
            let configuration = MLModelConfiguration()
            configuration.computeUnits = computeUnits(units ?? job.computeUnits)
            guard !job.parameters.isEmpty else { return configuration }
            var parameters: [MLParameterKey: Any] = [:]
            for (name, value) in job.parameters {
                // JobBundle.open refused unknown names, so every name maps to a key.
                guard let parameter = ParameterName(rawValue: name) else { continue }
                parameters[scoped(key(parameter), to: job.model.updateScope)] = anyValue(value)
            }
            configuration.parameters = parameters
            return configuration
        }

        /// For a load that only reads the model's description: CPU only, no parameter overrides.
        static func describing() -> MLModelConfiguration {
            let configuration = MLModelConfiguration()
            configuration.computeUnits = .cpuOnly
            return configuration
        }

        /// The key for a layer's weights or biases (`results.json` names it `model1.dense_1`). Inside a pipeline
        /// the key is scoped twice, sub-model first, as Apple documents it
        /// (`biases.scoped(to: "model1").scoped(to: "dense_1")` is `model1.dense_1.biases`), rather than once to a
        /// dotted name whose parsing Core ML does not document.
        static func layerKey(_ kind: ParameterArtifact.Kind, layer: String, scope: String) -> MLParameterKey {
            let base: MLParameterKey = kind == .weights ? .weights : .biases
            return scoped(base, to: scope).scoped(to: layer)
        }

        private static func scoped(_ key: MLParameterKey, to scope: String) -> MLParameterKey {
            scope.isEmpty ? key : key.scoped(to: scope)
        }

        private static func key(_ name: ParameterName) -> MLParameterKey {
            switch name {
            case .learningRate: .learningRate
            case .momentum: .momentum
            case .miniBatchSize: .miniBatchSize
            case .beta1: .beta1
            case .beta2: .beta2
            case .eps: .eps
            case .epochs: .epochs
            case .shuffle: .shuffle
            case .seed: .seed
            case .numberOfNeighbors: .numberOfNeighbors
            }
        }

        private static func anyValue(_ value: ParameterValue) -> Any {
            switch value {
            case let .bool(flag): flag
            case let .int(number): number
            case let .double(number): number
            }
        }

        private static func computeUnits(_ name: ComputeUnitsName) -> MLComputeUnits {
            switch name {
            case .cpuOnly: .cpuOnly
            case .cpuAndGPU: .cpuAndGPU
            case .all: .all
            case .cpuAndNeuralEngine: .cpuAndNeuralEngine
            }
        }
    }
#endif
