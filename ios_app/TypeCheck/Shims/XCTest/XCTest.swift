// Type-check shim of the XCTest subset the job cases (ios_app/JobTests) use, as Apple's XCTest declares it on iOS and
// macOS. Hand-written from Apple's public documentation (signatures only; no SDK file was copied). Never linked into
// anything that runs. A target of this package named XCTest is found before the toolchain's swift-corelibs-xctest,
// which lacks XCTAttachment, `XCTestCase.init(selector:)` and the overridable `defaultTestSuite`.
//
// Facts kept from the SDK: XCTest's classes are NSObject subclasses, not Sendable and not actor-isolated (a
// `@MainActor` subclass of XCTestCase is refused in Swift 6); `defaultTestSuite` is an overridable class property;
// `init(selector:)` is XCTestCase's designated initializer in Swift (`init(invocation:)` is unavailable there);
// `XCTAttachment.Lifetime` is an NS_ENUM (open: built with library evolution); `XCTFail` records the caller's file
// and line.
import Foundation
import ObjectiveC

/// `XCTest` (iOS 2 / macOS 10.5): the abstract base of cases and suites.
open class XCTest: NSObject {
    open var name: String { shimOnly() }
    open var testCaseCount: Int { shimOnly() }
    open func run() { shimOnly() }
}

/// `XCTestCase`.
open class XCTestCase: XCTest {
    /// "Creates a test case that runs the test method the selector names."
    public init(selector: Selector) { shimOnly() }

    /// "The test suite that XCTest runs for this class": by default one case per `test…` method.
    open class var defaultTestSuite: XCTestSuite { shimOnly() }

    /// `add(_:)` (iOS 11 / macOS 10.13, from `XCTActivity`): attaches data to the test's results.
    open func add(_ attachment: XCTAttachment) { shimOnly() }

    open func setUp() { shimOnly() }
    open func tearDown() { shimOnly() }
}

/// `XCTestSuite`.
open class XCTestSuite: XCTest {
    public init(name: String) { shimOnly() }
    open func addTest(_ test: XCTest) { shimOnly() }
    open var tests: [XCTest] { shimOnly() }
}

/// `XCTAttachment` (iOS 11 / macOS 10.13).
open class XCTAttachment: NSObject {
    /// `XCTAttachmentLifetime`: kept whatever the outcome, or deleted when the test passes (the default).
    public enum Lifetime: Int {
        case keepAlways = 0
        case deleteOnSuccess = 1
    }

    /// "Creates an attachment with the contents of a file at the specified URL", its type from the extension.
    public convenience init(contentsOfFile url: URL) { shimOnly() }
    public convenience init(data payload: Data, uniformTypeIdentifier identifier: String) { shimOnly() }

    open var name: String? {
        get { shimOnly() }
        set { shimOnly() }
    }

    open var lifetime: Lifetime {
        get { shimOnly() }
        set { shimOnly() }
    }
}

/// `XCTFail(_:file:line:)`: records a failure of the current test.
public func XCTFail(_ message: String = "", file: StaticString = #filePath, line: UInt = #line) { shimOnly() }

func shimOnly() -> Never {
    fatalError("type-check shim: XCTest's Apple declarations do not run on this platform")
}
