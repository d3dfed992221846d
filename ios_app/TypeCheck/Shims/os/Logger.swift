// Type-check shim of `os.Logger` and its message interpolation. Hand-written from Apple's public documentation
// (signatures only; no SDK file was copied). Never linked into anything that runs.
//
// Facts kept from the SDK: Logger is a Sendable struct (iOS 14 / macOS 11); a message is an `OSLogMessage`
// built by string interpolation, and only the documented argument kinds can be interpolated (String, integers,
// floating point, Bool, NSObject, Error, metatypes, CustomStringConvertible), each taken as an escaping
// autoclosure with an optional `privacy:` (and `align:` / `format:`) argument. Interpolating anything else, or
// building the message from a `String` variable, does not compile.
import Foundation

@available(macOS 11.0, iOS 14.0, *)
public struct Logger: @unchecked Sendable {
    public init(subsystem: String, category: String) { shimOnly() }
    public init() { shimOnly() }

    public func log(_ message: OSLogMessage) { shimOnly() }
    public func log(level: OSLogType, _ message: OSLogMessage) { shimOnly() }
    public func trace(_ message: OSLogMessage) { shimOnly() }
    public func debug(_ message: OSLogMessage) { shimOnly() }
    public func info(_ message: OSLogMessage) { shimOnly() }
    public func notice(_ message: OSLogMessage) { shimOnly() }
    public func warning(_ message: OSLogMessage) { shimOnly() }
    public func error(_ message: OSLogMessage) { shimOnly() }
    public func critical(_ message: OSLogMessage) { shimOnly() }
    public func fault(_ message: OSLogMessage) { shimOnly() }
}

public struct OSLogType: Equatable, RawRepresentable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static var `default`: OSLogType { shimOnly() }
    public static var info: OSLogType { shimOnly() }
    public static var debug: OSLogType { shimOnly() }
    public static var error: OSLogType { shimOnly() }
    public static var fault: OSLogType { shimOnly() }
}

public struct OSLogMessage: ExpressibleByStringInterpolation, ExpressibleByStringLiteral {
    public init(stringInterpolation: OSLogInterpolation) { shimOnly() }
    public init(stringLiteral value: String) { shimOnly() }
}

public struct OSLogPrivacy: Equatable, Sendable {
    public static var `public`: OSLogPrivacy { shimOnly() }
    public static var `private`: OSLogPrivacy { shimOnly() }
    public static var sensitive: OSLogPrivacy { shimOnly() }
    public static var auto: OSLogPrivacy { shimOnly() }
}

public struct OSLogStringAlignment: Sendable {
    public static var none: OSLogStringAlignment { shimOnly() }
    public static func right(columns: @autoclosure @escaping () -> Int) -> OSLogStringAlignment { shimOnly() }
    public static func left(columns: @autoclosure @escaping () -> Int) -> OSLogStringAlignment { shimOnly() }
}

public struct OSLogIntegerAlignment: Sendable {
    public static var none: OSLogIntegerAlignment { shimOnly() }
}

public struct OSLogFloatAlignment: Sendable {
    public static var none: OSLogFloatAlignment { shimOnly() }
}

public enum OSLogIntegerFormatting: Sendable {
    case decimal(explicitPositiveSign: Bool = false, minDigits: Int = 0)
    public static var decimal: OSLogIntegerFormatting { shimOnly() }
}

public enum OSLogFloatFormatting: Sendable {
    case fixed(precision: Int = 6, explicitPositiveSign: Bool = false, uppercase: Bool = false)
    public static var fixed: OSLogFloatFormatting { shimOnly() }
}

public enum OSLogBoolFormat: Sendable {
    case truth, answer
}

public struct OSLogInterpolation: StringInterpolationProtocol {
    public init(literalCapacity: Int, interpolationCount: Int) { shimOnly() }
    public mutating func appendLiteral(_ literal: String) { shimOnly() }

    public mutating func appendInterpolation(
        _ argumentString: @autoclosure @escaping () -> String, align: OSLogStringAlignment = .none,
        privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation<T: CustomStringConvertible>(
        _ value: @autoclosure @escaping () -> T, align: OSLogStringAlignment = .none, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation<T: FixedWidthInteger>(
        _ number: @autoclosure @escaping () -> T, format: OSLogIntegerFormatting = .decimal,
        align: OSLogIntegerAlignment = .none, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ number: @autoclosure @escaping () -> Double, format: OSLogFloatFormatting = .fixed,
        align: OSLogFloatAlignment = .none, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ number: @autoclosure @escaping () -> Float, format: OSLogFloatFormatting = .fixed,
        align: OSLogFloatAlignment = .none, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ boolean: @autoclosure @escaping () -> Bool, format: OSLogBoolFormat = .truth, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ argumentObject: @autoclosure @escaping () -> NSObject, privacy: OSLogPrivacy = .auto
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ error: @autoclosure @escaping () -> any Error, privacy: OSLogPrivacy = .auto, attributes: String = ""
    ) { shimOnly() }

    public mutating func appendInterpolation(
        _ value: @autoclosure @escaping () -> any Any.Type, align: OSLogStringAlignment = .none,
        privacy: OSLogPrivacy = .auto
    ) { shimOnly() }
}

func shimOnly() -> Never {
    fatalError("type-check shim: os does not exist on this platform")
}
