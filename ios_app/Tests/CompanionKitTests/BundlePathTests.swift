@testable import CompanionKit
import Foundation
import XCTest

final class BundlePathTests: XCTestCase {
    func testOrdinaryRelativePathsPass() throws {
        for path in ["job.json", "train/image/000000.png", "model/My Model.mlmodelc/coremldata.bin", "a/.hidden"] {
            XCTAssertNoThrow(try BundlePath.validate(path, field: "files"), path)
        }
    }

    func testEveryUnsafeSpellingIsRefusedWithItsReason() {
        let cases = [
            ("", "empty path"), ("/etc/passwd", "absolute"), ("a\\b", "backslash"), ("a//b", "empty segment"),
            ("a/", "empty segment"), ("./a", "'.' segment"), ("a/../../b", "'..' segment"), ("..", "'..' segment"),
            ("a\u{0}b", "control character"),
        ]
        for (path, reason) in cases {
            let error = assertRefused("unsafePath") { try BundlePath.validate(path, field: "model.path") }
            XCTAssertTrue(error?.description.contains(reason) ?? false, "\(path): \(String(describing: error))")
            XCTAssertTrue(error?.description.hasPrefix("model.path:") ?? false)
        }
    }

    func testSymbolicLinkOnTheWayIsRefused() throws {
        let directory = try TemporaryDirectory()
        let outside = directory.url.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let root = directory.url.appendingPathComponent("bundle")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("train"), withDestinationURL: outside)
        assertRefused("unsafePath") { try BundlePath.resolve("train/x.npy", in: root, field: "training") }
        XCTAssertNoThrow(try BundlePath.resolve("other/x.npy", in: root, field: "training"))
    }

    func testJobIDRuleMatchesTheContractPattern() {
        for id in ["a", "job-1", "A.b_c-9", String(repeating: "x", count: 128)] {
            XCTAssertTrue(JobID.isValid(id), id)
        }
        for id in ["", "-job", ".job", "job/1", "job 1", "jöb", String(repeating: "x", count: 129)] {
            XCTAssertFalse(JobID.isValid(id), id)
        }
    }
}
