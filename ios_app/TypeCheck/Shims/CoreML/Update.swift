// Type-check shim: on-device update (MLTask, MLUpdateTask and its handlers). See Model.swift for the rules.
import Foundation

/// `MLTaskState` (iOS 13 / macOS 10.15).
@available(macOS 10.15, iOS 13.0, *)
public enum MLTaskState: Int, @unchecked Sendable {
    case suspended = 1
    case running = 2
    case cancelling = 3
    case completed = 4
    case failed = 5
}

/// `MLTask` (iOS 13 / macOS 10.15): not Sendable.
@available(macOS 10.15, iOS 13.0, *)
open class MLTask: NSObject {
    open var taskIdentifier: String { shimOnly() }
    open var state: MLTaskState { shimOnly() }
    open var error: (any Error)? { shimOnly() }
    open func resume() { shimOnly() }
    open func cancel() { shimOnly() }
}

/// `MLUpdateTask` (iOS 13 / macOS 10.15): not Sendable. The Objective-C class factories
/// (`updateTaskForModelAtURL:...error:`) import as throwing convenience initializers.
@available(macOS 10.15, iOS 13.0, *)
open class MLUpdateTask: MLTask {
    public convenience init(
        forModelAt modelURL: URL, trainingData: any MLBatchProvider, configuration: MLModelConfiguration?,
        completionHandler: @escaping (MLUpdateContext) -> Void
    ) throws { shimOnly() }

    public convenience init(
        forModelAt modelURL: URL, trainingData: any MLBatchProvider, configuration: MLModelConfiguration?,
        progressHandlers: MLUpdateProgressHandlers
    ) throws { shimOnly() }

    @available(macOS 11.0, iOS 14.0, *)
    public convenience init(
        forModelAt modelURL: URL, trainingData: any MLBatchProvider,
        completionHandler: @escaping (MLUpdateContext) -> Void
    ) throws { shimOnly() }

    @available(macOS 11.0, iOS 14.0, *)
    public convenience init(
        forModelAt modelURL: URL, trainingData: any MLBatchProvider, progressHandlers: MLUpdateProgressHandlers
    ) throws { shimOnly() }

    /// "Use this method within the closures you provide in an MLUpdateProgressHandlers instance."
    open func resume(withParameters updateParameters: [MLParameterKey: Any]) { shimOnly() }
}

/// `MLUpdateProgressEvent` (NS_OPTIONS, iOS 13 / macOS 10.15): an imported option set, Sendable.
@available(macOS 10.15, iOS 13.0, *)
public struct MLUpdateProgressEvent: OptionSet, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static var trainingBegin: MLUpdateProgressEvent { MLUpdateProgressEvent(rawValue: 1 << 0) }
    public static var epochEnd: MLUpdateProgressEvent { MLUpdateProgressEvent(rawValue: 1 << 1) }
    public static var miniBatchEnd: MLUpdateProgressEvent { MLUpdateProgressEvent(rawValue: 1 << 2) }
}

/// `MLUpdateProgressHandlers` (iOS 13 / macOS 10.15). The handlers are not `@Sendable`.
@available(macOS 10.15, iOS 13.0, *)
open class MLUpdateProgressHandlers: NSObject {
    public init(
        forEvents interestedEvents: MLUpdateProgressEvent, progressHandler: ((MLUpdateContext) -> Void)?,
        completionHandler: @escaping (MLUpdateContext) -> Void
    ) { shimOnly() }
}

/// `MLUpdateContext` (iOS 13 / macOS 10.15): valid inside the handlers; not Sendable.
@available(macOS 10.15, iOS 13.0, *)
open class MLUpdateContext: NSObject {
    open var task: MLUpdateTask { shimOnly() }
    open var model: any MLModel & MLWritable { shimOnly() }
    open var event: MLUpdateProgressEvent { shimOnly() }
    open var metrics: [MLMetricKey: Any] { shimOnly() }
    open var parameters: [MLParameterKey: Any] { shimOnly() }
}
