// Type-check shim: features, batches, multi-arrays and image constraints. See Model.swift for the rules.
import Foundation

/// `MLFeatureType` (NS_ENUM, iOS 11 / macOS 10.13); open, so a switch needs a default.
public enum MLFeatureType: Int, @unchecked Sendable {
    case invalid = 0
    case int64 = 1
    case double = 2
    case string = 3
    case image = 4
    case multiArray = 5
    case dictionary = 6
    @available(macOS 10.14, iOS 12.0, *)
    case sequence = 7
    @available(macOS 15.0, iOS 18.0, *)
    case state = 8
}

/// `MLFeatureProvider` (iOS 11 / macOS 10.13).
public protocol MLFeatureProvider {
    var featureNames: Set<String> { get }
    func featureValue(for featureName: String) -> MLFeatureValue?
}

/// `MLBatchProvider` (iOS 12 / macOS 10.14).
@available(macOS 10.14, iOS 12.0, *)
public protocol MLBatchProvider {
    var count: Int { get }
    func features(at index: Int) -> any MLFeatureProvider
}

/// `MLArrayBatchProvider` (iOS 12 / macOS 10.14).
@available(macOS 10.14, iOS 12.0, *)
open class MLArrayBatchProvider: NSObject, MLBatchProvider {
    open var array: [any MLFeatureProvider] { shimOnly() }
    public init(array: [any MLFeatureProvider]) { shimOnly() }
    public convenience init(dictionary: [String: [Any]]) throws { shimOnly() }
    open var count: Int { shimOnly() }
    open func features(at index: Int) -> any MLFeatureProvider { shimOnly() }
}

/// `MLDictionaryFeatureProvider` (iOS 11 / macOS 10.13).
open class MLDictionaryFeatureProvider: NSObject, MLFeatureProvider {
    open var dictionary: [String: MLFeatureValue] { shimOnly() }
    public init(dictionary: [String: Any]) throws { shimOnly() }
    open var featureNames: Set<String> { shimOnly() }
    open func featureValue(for featureName: String) -> MLFeatureValue? { shimOnly() }
    open subscript(featureName: String) -> MLFeatureValue? { shimOnly() }
}

/// `MLFeatureValue` (iOS 11 / macOS 10.13).
open class MLFeatureValue: NSObject {
    /// `MLFeatureValueImageOption` (iOS 13 / macOS 10.15), an extensible string enum.
    public struct ImageOption: Hashable, RawRepresentable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static var cropRect: ImageOption { shimOnly() }
        public static var cropAndScale: ImageOption { shimOnly() }
    }

    open var type: MLFeatureType { shimOnly() }
    open var isUndefined: Bool { shimOnly() }
    open var int64Value: Int64 { shimOnly() }
    open var doubleValue: Double { shimOnly() }
    open var stringValue: String { shimOnly() }
    open var multiArrayValue: MLMultiArray? { shimOnly() }
    open var dictionaryValue: [AnyHashable: NSNumber] { shimOnly() }
    open var imageBufferValue: CVPixelBuffer? { shimOnly() }

    public convenience init(int64 value: Int64) { shimOnly() }
    public convenience init(double value: Double) { shimOnly() }
    public convenience init(string value: String) { shimOnly() }
    public convenience init(multiArray value: MLMultiArray) { shimOnly() }
    public convenience init(pixelBuffer value: CVPixelBuffer) { shimOnly() }
    public convenience init(dictionary value: [AnyHashable: NSNumber]) throws { shimOnly() }

    @available(macOS 10.15, iOS 13.0, *)
    public convenience init(
        imageAt url: URL, constraint: MLImageConstraint, options: [MLFeatureValue.ImageOption: Any]? = nil
    ) throws { shimOnly() }
}

/// `MLImageConstraint` (iOS 11 / macOS 10.13).
open class MLImageConstraint: NSObject {
    open var pixelsHigh: Int { shimOnly() }
    open var pixelsWide: Int { shimOnly() }
    open var pixelFormatType: OSType { shimOnly() }
}

/// `MLMultiArrayDataType` (NS_ENUM, iOS 11 / macOS 10.13). Raw values are Core ML's (0x10000 | bits for floats,
/// 0x20000 | bits for int32); `float64` and `float` are the SDK's aliases.
public enum MLMultiArrayDataType: Int, @unchecked Sendable {
    case double = 65600
    case float32 = 65568
    @available(macOS 12.0, iOS 16.0, *)
    case float16 = 65552
    case int32 = 131104
    public static var float64: MLMultiArrayDataType { .double }
    public static var float: MLMultiArrayDataType { .float32 }
}

/// The Swift element types an `MLMultiArray` buffer can be viewed as (iOS 15 / macOS 12).
public protocol MLShapedArrayScalar {}
extension Float: MLShapedArrayScalar {}
extension Double: MLShapedArrayScalar {}
extension Int32: MLShapedArrayScalar {}

/// `MLMultiArray` (iOS 11 / macOS 10.13): a mutable buffer, not Sendable.
open class MLMultiArray: NSObject {
    public init(shape: [NSNumber], dataType: MLMultiArrayDataType) throws { shimOnly() }
    open var dataType: MLMultiArrayDataType { shimOnly() }
    open var shape: [NSNumber] { shimOnly() }
    open var strides: [NSNumber] { shimOnly() }
    open var count: Int { shimOnly() }
    open subscript(index: Int) -> NSNumber { shimOnly() }
    open subscript(key: [NSNumber]) -> NSNumber { shimOnly() }

    @available(macOS 12.3, iOS 15.4, *)
    public func withUnsafeBufferPointer<S: MLShapedArrayScalar, R>(
        ofType type: S.Type, _ body: (UnsafeBufferPointer<S>) throws -> R
    ) rethrows -> R { shimOnly() }

    @available(macOS 12.3, iOS 15.4, *)
    public func withUnsafeMutableBufferPointer<S: MLShapedArrayScalar, R>(
        ofType type: S.Type, _ body: (UnsafeMutableBufferPointer<S>, [Int]) throws -> R
    ) rethrows -> R { shimOnly() }
}

/// `MLFeatureDescription` (iOS 11 / macOS 10.13).
open class MLFeatureDescription: NSObject {
    open var name: String { shimOnly() }
    open var type: MLFeatureType { shimOnly() }
    open var isOptional: Bool { shimOnly() }
    open var imageConstraint: MLImageConstraint? { shimOnly() }
}
