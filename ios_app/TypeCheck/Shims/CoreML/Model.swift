// Type-check shim of the Core ML subset the companion runner uses. Hand-written from Apple's public
// documentation (developer.apple.com/documentation/coreml), as the Objective-C API is imported into Swift:
// signatures only, no SDK file was copied, nothing here runs (every body traps).
//
// Isolation and Sendable facts kept from the SDK (Core ML is an Objective-C framework; these classes carry no
// Sendable annotation, so Swift treats them as non-Sendable):
// - MLModel, MLModelConfiguration, MLModelDescription, MLFeatureValue, MLMultiArray, MLUpdateTask, MLTask,
//   MLUpdateContext, MLUpdateProgressHandlers, MLParameterKey and MLMetricKey are NOT Sendable;
// - the progress and completion handlers are plain `(MLUpdateContext) -> Void` closures, NOT @Sendable, and
//   Core ML calls them on its own queue;
// - imported NS_ENUMs are open (library evolution here), so a `switch` over one needs a default;
// - imported NS_OPTIONS (MLUpdateProgressEvent) are Sendable value types.
// Availability is written as documented; Swift on Linux does not check iOS/macOS availability.
@_exported import CoreVideo
import Foundation

/// `MLModel` (iOS 11 / macOS 10.13).
open class MLModel: NSObject {
    open var modelDescription: MLModelDescription { shimOnly() }
    @available(macOS 10.14, iOS 12.0, *)
    open var configuration: MLModelConfiguration { shimOnly() }

    public convenience init(contentsOf url: URL) throws { shimOnly() }
    @available(macOS 10.14, iOS 12.0, *)
    public convenience init(contentsOf url: URL, configuration: MLModelConfiguration) throws { shimOnly() }

    @available(macOS, introduced: 10.13, deprecated: 13.0, message: "Use the asynchronous compileModel(at:)")
    @available(iOS, introduced: 11.0, deprecated: 16.0, message: "Use the asynchronous compileModel(at:)")
    open class func compileModel(at modelURL: URL) throws -> URL { shimOnly() }
    @available(macOS 13.0, iOS 16.0, *)
    open class func compileModel(at modelURL: URL) async throws -> URL { shimOnly() }

    @available(macOS 12.0, iOS 15.0, *)
    open class func load(contentsOf url: URL, configuration: MLModelConfiguration = MLModelConfiguration())
        async throws -> MLModel
    { shimOnly() }

    open func prediction(from input: any MLFeatureProvider) throws -> any MLFeatureProvider { shimOnly() }
    open func prediction(from input: any MLFeatureProvider, options: MLPredictionOptions) throws
        -> any MLFeatureProvider
    { shimOnly() }
    @available(macOS 10.14, iOS 12.0, *)
    open func predictions(fromBatch inputBatch: any MLBatchProvider) throws -> any MLBatchProvider { shimOnly() }
    @available(macOS 10.14, iOS 12.0, *)
    open func predictions(from inputBatch: any MLBatchProvider, options: MLPredictionOptions) throws
        -> any MLBatchProvider
    { shimOnly() }

    /// `parameterValueForKey:error:`; the value's type depends on the key (`MLMultiArray` for weights/biases).
    @available(macOS 10.15, iOS 13.0, *)
    open func parameterValue(for key: MLParameterKey) throws -> Any { shimOnly() }
}

/// `MLWritable` (iOS 13 / macOS 10.15): what `MLUpdateContext.model` adds to a model.
@available(macOS 10.15, iOS 13.0, *)
public protocol MLWritable: NSObjectProtocol {
    func write(to url: URL) throws
}

/// `MLPredictionOptions` (iOS 11 / macOS 10.13).
open class MLPredictionOptions: NSObject {
    public override init() { shimOnly() }
}

/// `MLComputeUnits` (iOS 12 / macOS 10.14); `cpuAndNeuralEngine` from iOS 16 / macOS 13.
@available(macOS 10.14, iOS 12.0, *)
public enum MLComputeUnits: Int, @unchecked Sendable {
    case cpuOnly = 0
    case cpuAndGPU = 1
    case all = 2
    @available(macOS 13.0, iOS 16.0, *)
    case cpuAndNeuralEngine = 3
}

/// `MLModelConfiguration` (iOS 12 / macOS 10.14): a mutable reference type, not Sendable.
@available(macOS 10.14, iOS 12.0, *)
open class MLModelConfiguration: NSObject, NSCopying {
    public override init() { shimOnly() }
    open var computeUnits: MLComputeUnits
    open var allowLowPrecisionAccumulationOnGPU: Bool
    @available(macOS 10.15, iOS 13.0, *)
    open var parameters: [MLParameterKey: Any]?
    @available(macOS 14.4, iOS 17.4, *)
    open var modelDisplayName: String?
    open func copy(with zone: NSZone? = nil) -> Any { shimOnly() }
}

/// `MLModelDescription` (iOS 11 / macOS 10.13).
open class MLModelDescription: NSObject {
    open var inputDescriptionsByName: [String: MLFeatureDescription] { shimOnly() }
    open var outputDescriptionsByName: [String: MLFeatureDescription] { shimOnly() }
    open var predictedFeatureName: String? { shimOnly() }
    open var predictedProbabilitiesName: String? { shimOnly() }
    @available(macOS 10.15, iOS 13.0, *)
    open var isUpdatable: Bool { shimOnly() }
    @available(macOS 10.15, iOS 13.0, *)
    open var trainingInputDescriptionsByName: [String: MLFeatureDescription] { shimOnly() }
    @available(macOS 10.15, iOS 13.0, *)
    open var parameterDescriptionsByKey: [MLParameterKey: MLParameterDescription] { shimOnly() }
    /// `NSArray` of `NSString` or `NSNumber`, imported as `[Any]?`.
    @available(macOS 11.0, iOS 14.0, *)
    open var classLabels: [Any]? { shimOnly() }
}

/// `MLParameterDescription` (iOS 13 / macOS 10.15).
@available(macOS 10.15, iOS 13.0, *)
open class MLParameterDescription: NSObject {
    open var key: MLParameterKey { shimOnly() }
    open var defaultValue: Any { shimOnly() }
}

/// `MLKey` (iOS 13 / macOS 10.15): the base of parameter and metric keys.
@available(macOS 10.15, iOS 13.0, *)
open class MLKey: NSObject, NSCopying {
    open var name: String { shimOnly() }
    open var scope: String? { shimOnly() }
    open func copy(with zone: NSZone? = nil) -> Any { shimOnly() }
}

/// `MLParameterKey` (iOS 13 / macOS 10.15). Objective-C class properties import as `class var`.
@available(macOS 10.15, iOS 13.0, *)
open class MLParameterKey: MLKey {
    open class var learningRate: MLParameterKey { shimOnly() }
    open class var momentum: MLParameterKey { shimOnly() }
    open class var miniBatchSize: MLParameterKey { shimOnly() }
    open class var beta1: MLParameterKey { shimOnly() }
    open class var beta2: MLParameterKey { shimOnly() }
    open class var eps: MLParameterKey { shimOnly() }
    open class var epochs: MLParameterKey { shimOnly() }
    open class var shuffle: MLParameterKey { shimOnly() }
    open class var seed: MLParameterKey { shimOnly() }
    open class var numberOfNeighbors: MLParameterKey { shimOnly() }
    open class var linkedModelFileName: MLParameterKey { shimOnly() }
    open class var linkedModelSearchPath: MLParameterKey { shimOnly() }
    open class var weights: MLParameterKey { shimOnly() }
    open class var biases: MLParameterKey { shimOnly() }
    open func scoped(to scope: String) -> MLParameterKey { shimOnly() }
}

/// `MLMetricKey` (iOS 13 / macOS 10.15).
@available(macOS 10.15, iOS 13.0, *)
open class MLMetricKey: MLKey {
    open class var lossValue: MLMetricKey { shimOnly() }
    open class var epochIndex: MLMetricKey { shimOnly() }
    open class var miniBatchIndex: MLMetricKey { shimOnly() }
}

func shimOnly() -> Never {
    fatalError("type-check shim: Core ML does not exist on this platform")
}
