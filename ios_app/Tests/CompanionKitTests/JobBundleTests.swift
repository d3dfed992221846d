@testable import CompanionKit
import Foundation
import XCTest

/// The job reader's rules, one mutation of a valid bundle at a time.
final class JobBundleTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var fixture: JobFixture!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        fixture = try JobFixture(in: directory.url)
    }

    override func tearDown() {
        fixture = nil
        directory = nil
    }

    private func open(expecting jobID: String? = nil) throws -> JobBundle {
        try JobBundle.open(at: fixture.root, expectedJobID: jobID)
    }

    func testValidBundleOpensWithEveryField() throws {
        let job = try open(expecting: JobFixture.jobID).manifest
        XCTAssertEqual(job.model.name, "Tiny")
        XCTAssertEqual(job.parameters["epochs"], .int(2))
        XCTAssertEqual(job.parameters["learningRate"], .double(0.01))
        XCTAssertEqual(job.parameters["shuffle"], .bool(false))
        XCTAssertEqual(
            job.training.features.map(\.kind),
            [
                .multiArray(dtype: .float32, shape: [2]), .image(width: 2, height: 2, colorSpace: .rgb), .string,
            ])
        XCTAssertEqual(job.repeatCount, 2)
        XCTAssertEqual(job.probe?.count, 1)
    }

    func testManifestRoundTripsThroughJSON() throws {
        let job = try open().manifest
        let again = try ContractJSON.decode(
            JobManifest.self, from: ContractJSON.encoder().encode(job), file: "job.json")
        XCTAssertEqual(again, job)
    }

    func testUnknownSchemaVersionIsRefusedBeforeAnythingElse() throws {
        try fixture.saveRaw {
            $0["schema_version"] = 2; $0["surprise"] = true
        }
        let error = assertRefused("unsupportedSchemaVersion") { try open() }
        XCTAssertEqual(error, .unsupportedSchemaVersion(file: "job.json", found: 2, supported: [1]))
    }

    func testOtherJobIDIsRefused() {
        assertRefused("jobIDMismatch") { try open(expecting: "another-job") }
    }

    func testMissingJobJSONIsAMissingFile() throws {
        try FileManager.default.removeItem(at: fixture.root.appendingPathComponent("job.json"))
        XCTAssertEqual(assertRefused("missingFile") { try open() }, .missingFile(path: "job.json"))
    }

    func testUnknownFieldIsRefusedWithItsName() throws {
        try fixture.saveRaw { object in
            var model = object["model"] as? [String: Any] ?? [:]
            model["sha265"] = "typo"
            object["model"] = model
        }
        let error = assertRefused("invalidManifest") { try open() }
        XCTAssertTrue(error?.description.contains("model.sha265") ?? false, String(describing: error))
    }

    func testUnknownParameterKeyAndWrongTypeAreRefused() throws {
        fixture.manifest.parameters["learning_rate"] = .double(0.1)
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
        fixture.manifest.parameters["learning_rate"] = nil
        fixture.manifest.parameters["epochs"] = .double(1.5)
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
    }

    func testMissingListedFileIsRefused() throws {
        try FileManager.default.removeItem(at: fixture.root.appendingPathComponent("train/label.json"))
        XCTAssertEqual(assertRefused("missingFile") { try open() }, .missingFile(path: "train/label.json"))
    }

    func testUnlistedFileIsRefused() throws {
        try Data("stray".utf8).write(to: fixture.root.appendingPathComponent("train/notes.txt"))
        XCTAssertEqual(assertRefused("unlistedFile") { try open() }, .unlistedFile(path: "train/notes.txt"))
    }

    func testChangedFileIsAHashMismatch() throws {
        try Data([0x89, 0x50, 0x4e, 0x47, 9]).write(to: fixture.root.appendingPathComponent("train/image/000001.png"))
        let error = assertRefused("hashMismatch") { try open() }
        guard case let .hashMismatch(path, _, _)? = error else { return }
        XCTAssertEqual(path, "train/image/000001.png")
    }

    func testEscapingPathIsRefused() throws {
        fixture.manifest.model.path = "../Tiny.mlmodel"
        try fixture.save()
        assertRefused("unsafePath") { try open() }
    }

    func testListedPathWithDotDotIsRefused() throws {
        fixture.manifest.files["model/../job.json"] = String(repeating: "0", count: 64)
        try fixture.save()
        assertRefused("unsafePath") { try open() }
    }

    func testSymbolicLinkInsideTheBundleIsRefused() throws {
        let link = fixture.root.appendingPathComponent("train/extra.png")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: URL(fileURLWithPath: "/etc/hostname"))
        assertRefused("unsafePath") { try open() }
    }

    func testNpyShapeThatDisagreesWithTheManifestIsRefused() throws {
        fixture.manifest.training.features[0].kind = .multiArray(dtype: .float32, shape: [3])
        try fixture.save()
        assertRefused("invalidNpy") { try open() }
        fixture.manifest.training.features[0].kind = .multiArray(dtype: .float64, shape: [2])
        try fixture.save()
        assertRefused("invalidNpy") { try open() }
    }

    func testMissingImageIndexIsRefused() throws {
        // Unlisted and absent, so the files rule holds; the image layout rule must still see the gap.
        try FileManager.default.removeItem(at: fixture.root.appendingPathComponent("train/image/000001.png"))
        fixture.manifest.files["train/image/000001.png"] = nil
        try fixture.save()
        XCTAssertEqual(assertRefused("missingFile") { try open() }, .missingFile(path: "train/image/000001.png"))
    }

    func testLabelCountThatDisagreesIsRefused() throws {
        let labels = Data(#"["cat","dog"]"#.utf8)
        try labels.write(to: fixture.root.appendingPathComponent("train/label.json"))
        fixture.manifest.files["train/label.json"] = SHA256.hex(of: labels)
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
    }

    func testModelHashMustMatchTheModelEntry() throws {
        // Two hashes in one manifest that disagree: a manifest error, as the Python reader says (SchemaError).
        fixture.manifest.model.sha256 = String(repeating: "a", count: 64)
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
    }

    func testNonPositiveRepeatAndDeadlineAreRefused() throws {
        fixture.manifest.repeatCount = 0
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
        fixture.manifest.repeatCount = 1
        fixture.manifest.deadlineSeconds = 0
        try fixture.save()
        assertRefused("invalidManifest") { try open() }
    }
}
