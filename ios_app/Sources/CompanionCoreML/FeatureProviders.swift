// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLFeatureDescription.imageConstraint` (iOS 11 / macOS 10.13), `MLImageConstraint` (iOS 11 / macOS 10.13)
// - `MLFeatureValue.init(imageAt:constraint:options:)` (iOS 13 / macOS 10.15): decodes the PNG and builds the
//   pixel buffer in the constraint's size and pixel format (BGR models get their channel order from here)
// - `MLFeatureValue.init(multiArray:)`, `init(string:)`, `init(int64:)` (iOS 11 / macOS 10.13)
// - `MLDictionaryFeatureProvider.init(dictionary:)` (iOS 11 / macOS 10.13)
// - `MLArrayBatchProvider.init(array:)` (iOS 12 / macOS 10.14)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation

    /// Builds Core ML inputs from a job's example set: example `i` of the bundle is index `i` of the provider.
    enum FeatureProviders {
        /// The batch for `set`, using `descriptions` (training or prediction inputs) for the image constraints.
        static func batch(
            for set: ExampleSet, in job: JobBundle, descriptions: [String: MLFeatureDescription]
        ) throws -> MLArrayBatchProvider {
            var columns: [String: [MLFeatureValue]] = [:]
            for feature in set.features {
                columns[feature.name] = try values(of: feature, count: set.count, in: job, descriptions: descriptions)
            }
            var providers: [any MLFeatureProvider] = []
            providers.reserveCapacity(set.count)
            for index in 0..<set.count {
                let example = columns.mapValues { $0[index] }
                providers.append(try MLDictionaryFeatureProvider(dictionary: example))
            }
            return MLArrayBatchProvider(array: providers)
        }

        private static func values(
            of feature: Feature, count: Int, in job: JobBundle, descriptions: [String: MLFeatureDescription]
        ) throws -> [MLFeatureValue] {
            switch feature.kind {
            case .image:
                guard let constraint = descriptions[feature.name]?.imageConstraint else {
                    throw CompanionError.invalidManifest(
                        file: JobManifest.fileName, field: feature.name, reason: "is not an image input of the model"
                    )
                }
                return try (0..<count).map { index in
                    let url = job.url(for: Feature.imagePath(folder: feature.path, index: index))
                    return try MLFeatureValue(imageAt: url, constraint: constraint, options: nil)
                }
            case let .multiArray(_, shape):
                let array = try NpyArray.read(from: job.url(for: feature.path), displayPath: feature.path)
                let width = shape.reduce(1, *)
                return try (0..<count).map { index in
                    try MLFeatureValue(
                        multiArray: MultiArrays.make(shape: shape, from: array.storage, start: index * width))
                }
            case .string:
                return try job.labels(feature.path, as: String.self).map { MLFeatureValue(string: $0) }
            case .int64:
                return try job.labels(feature.path, as: Int64.self).map { MLFeatureValue(int64: $0) }
            }
        }
    }
#endif
