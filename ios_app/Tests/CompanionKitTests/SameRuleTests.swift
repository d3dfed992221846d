@testable import CompanionKit
import Foundation
import XCTest

/// Bundles that break a rule the Python reader checks earlier, or checks at all, than this reader did: each was a
/// bundle of the shared fuzz corpus (tests/contract/test_fuzz_corpus.py) that the two readers refused for
/// different rules, or judged differently. Both must now refuse it for the same rule (reasons.json).
final class SameRuleTests: XCTestCase {
    private static let golden = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../tests/data/contract/results/succeeded").standardizedFileURL
    private static let jobID = "golden-classifier-image"

    private var directory: TemporaryDirectory!
    private var root: URL!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        root = directory.url.appendingPathComponent("succeeded")
        try FileManager.default.copyItem(at: Self.golden, to: root)
    }

    override func tearDown() {
        root = nil
        directory = nil
    }

    /// Rewrites results.json with `replace` applied to its text and seals it again in DONE.
    private func editManifest(_ old: String, _ new: String) throws {
        let url = root.appendingPathComponent(ResultsManifest.fileName)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains(old), old)
        let data = Data(text.replacingOccurrences(of: old, with: new).utf8)
        try data.write(to: url)
        try Data("\(Self.jobID)\n\(SHA256.hex(of: data))\n".utf8).write(to: root.appendingPathComponent("DONE"))
    }

    private func open() throws -> ResultsBundle {
        try ResultsBundle.open(at: root, expectedJobID: Self.jobID)
    }

    func testAJobIDThatBreaksThePatternIsAManifestErrorNotAnotherJob() throws {
        try editManifest(#""job_id": "golden-classifier-image""#, #""job_id": """#)
        assertRefused("invalidManifest") { try open() }  // was jobIDMismatch; Python: SchemaError (pattern)
    }

    func testAnEventsPathOtherThanTheContractsIsAManifestError() throws {
        try editManifest(#""path": "events.jsonl""#, #""path": """#)
        assertRefused("invalidManifest") { try open() }  // was unsafePath; Python: SchemaError (const)
    }

    func testAnNpyHoldingMoreDataThanItsHeaderPromisesIsRefusedByAHeaderRead() throws {
        // Only the header of a reloaded dump is read; its size went unchecked, so the bundle was accepted.
        let path = "parameters/reloaded/dense.biases.npy"
        let url = root.appendingPathComponent(path)
        let data = try Data(contentsOf: url) + Data(count: 16)
        let oldHash = SHA256.hex(of: try Data(contentsOf: url))
        try data.write(to: url)
        try editManifest(#""\#(path)": "\#(oldHash)""#, #""\#(path)": "\#(SHA256.hex(of: data))""#)
        assertRefused("invalidNpy") { try open() }
    }

    func testALinkAnywhereIsRefusedBeforeAnUnlistedFile() throws {
        // "!stray" sorts before "z-link": the check in one pass named the unlisted file, Python the link.
        try Data("stray".utf8).write(to: root.appendingPathComponent("!stray"))
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("z-link"), withDestinationURL: URL(fileURLWithPath: "/etc/hostname"))
        assertRefused("unsafePath") { try open() }
    }
}
