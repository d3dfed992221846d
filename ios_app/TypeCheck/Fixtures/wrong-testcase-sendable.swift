// expect: does not conform to the 'Sendable' protocol
// An XCTestCase is not Sendable: the detached job run hands its answer back through a Sendable box, never the case.
import Foundation
import XCTest

final class JobCaseTests: XCTestCase {
    func share() -> any Sendable {
        self
    }
}
