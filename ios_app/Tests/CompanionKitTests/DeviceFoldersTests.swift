@testable import CompanionKit
import Foundation
import XCTest

/// `--run <id>` gives a launch its own folders, so a host that cannot delete files (devicectl) can run a job twice.
final class DeviceFoldersTests: XCTestCase {
    private let documents = URL(fileURLWithPath: "/var/mobile/Documents")

    func testWithoutARunTheJobLivesInTheSharedInboxAndOutbox() throws {
        let folders = try DeviceFolders(documents: documents, run: nil)
        XCTAssertEqual(folders.inbox(jobID: "j1").path, "/var/mobile/Documents/inbox/j1")
        XCTAssertEqual(folders.outbox.path, "/var/mobile/Documents/outbox")
    }

    func testARunHasItsOwnInboxAndOutbox() throws {
        let folders = try DeviceFolders(documents: documents, run: "run-0123456789ab")
        XCTAssertEqual(folders.inbox(jobID: "j1").path, "/var/mobile/Documents/runs/run-0123456789ab/inbox/j1")
        XCTAssertEqual(folders.outbox.path, "/var/mobile/Documents/runs/run-0123456789ab/outbox")
    }

    func testTheRunComesFromTheArgumentThenTheEnvironmentAndMustBeOneSafeSegment() {
        XCTAssertEqual(DeviceFolders.launchRun(arguments: ["app", "--job", "j", "--run", "r1"], environment: [:]), "r1")
        XCTAssertEqual(DeviceFolders.launchRun(arguments: ["app"], environment: ["MLHARNESS_RUN": "r2"]), "r2")
        XCTAssertNil(DeviceFolders.launchRun(arguments: ["app"], environment: ["MLHARNESS_RUN": ""]))
        for run in ["../x", "a/b", "", ".hidden"] {
            assertRefused("invalidManifest") { try DeviceFolders(documents: self.documents, run: run) }
        }
    }
}
