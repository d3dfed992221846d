@testable import CompanionKit
import Foundation
import XCTest

/// The golden bundles the Python side generates (`tests/data/contract/`, see its README): CompanionKit must
/// accept every valid one and refuse every invalid one for the rule it was built to break.
final class GoldenBundleTests: XCTestCase {
    private static let contract = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../tests/data/contract").standardizedFileURL

    /// The CompanionError kind each invalid bundle must produce (the Python class is in `invalid/expected.json`).
    private static let expectedRefusals: [String: (reader: String, kind: String)] = [
        "job-bad-version": ("job", "unsupportedSchemaVersion"),
        "job-missing-file": ("job", "missingFile"),
        "job-unsafe-path": ("job", "unsafePath"),
        "job-hash-mismatch": ("job", "hashMismatch"),
        "job-unknown-field": ("job", "invalidManifest"),
        "results-missing-done": ("results", "missingFile"),
        "results-wrong-job-id": ("results", "jobIDMismatch"),
        "results-done-hash-mismatch": ("results", "hashMismatch"),
        "results-tampered-file": ("results", "hashMismatch"),
        "results-unlisted-file": ("results", "unlistedFile"),
        "results-unsafe-path": ("results", "unsafePath"),
        "results-bad-version": ("results", "unsupportedSchemaVersion"),
        "results-unknown-field": ("results", "invalidManifest"),
        "results-done-crlf": ("results", "jobIDMismatch"),
        "results-done-blank-line": ("results", "invalidManifest"),
        "results-drive-letter-name": ("results", "unsafePath"),
        "results-control-character-name": ("results", "unsafePath"),
        "results-decomposed-name": ("results", "unsafePath"),
        "results-tensor-shape": ("results", "invalidManifest"),
        "results-npy-overflow": ("results", "invalidNpy"),
        "job-npy-overflow": ("job", "invalidNpy"),
    ]

    /// Python error class → the CompanionError kinds that name the same rule (`reasons.json`, which the Python
    /// fuzz corpus test reads too).
    private func sameRule() throws -> [String: Set<String>] {
        struct Reasons: Decodable {
            let sameRule: [String: Set<String>]

            enum CodingKeys: String, CodingKey {
                case sameRule = "same_rule"
            }
        }
        let url = Self.contract.appendingPathComponent("reasons.json")
        return try JSONDecoder().decode(Reasons.self, from: Data(contentsOf: url)).sameRule
    }

    private func folders(_ name: String) throws -> [URL] {
        let folder = Self.contract.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw XCTSkip(
                "golden bundles not found at \(folder.path) (generate them with python -m mlupdate.bundle.golden)")
        }
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { BundlePath.entry(at: $0) == .directory }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    private func expectedJobID(ofResults folder: URL) throws -> String {
        let done = try String(contentsOf: folder.appendingPathComponent("DONE"), encoding: .utf8)
        return String(done.split(separator: "\n").first ?? "")
    }

    func testEveryGoldenJobBundleOpens() throws {
        let jobs = try folders("jobs")
        XCTAssertEqual(
            jobs.map(\.lastPathComponent),
            [
                "golden-classifier-image", "golden-index-classifier", "golden-knn-pipeline", "golden-regressor",
            ])
        for folder in jobs {
            XCTAssertNoThrow(try JobBundle.open(at: folder, expectedJobID: folder.lastPathComponent), folder.path)
        }
    }

    func testImageClassifierJobDecodesItsFeaturesAndOverrides() throws {
        let folder = try XCTUnwrap(try folders("jobs").first { $0.lastPathComponent == "golden-classifier-image" })
        let job = try JobBundle.open(at: folder).manifest
        XCTAssertEqual(job.training.count, 4)
        XCTAssertEqual(job.training.features[0].kind, .image(width: 4, height: 4, colorSpace: .bgr))
        XCTAssertEqual(job.parameters, ["epochs": .int(2), "learningRate": .double(0.02)])
        XCTAssertEqual(Set(job.events), [.trainingBegin, .epochEnd, .miniBatchEnd])
        XCTAssertEqual(job.repeatCount, 2)
        XCTAssertEqual(job.deadlineSeconds, 120)
        XCTAssertEqual(job.model.updatableLayers, ["dense"])
    }

    func testIndexClassifierTensorsDecodeWithTheirDeclaredTypes() throws {
        let folder = try XCTUnwrap(try folders("jobs").first { $0.lastPathComponent == "golden-index-classifier" })
        let job = try JobBundle.open(at: folder)
        let x = try NpyArray.read(from: job.url(for: "train/x.npy"))
        let target = try NpyArray.read(from: job.url(for: "train/probs_true.npy"))
        XCTAssertEqual(x.dtype, .float32)
        XCTAssertEqual(x.shape, [5, 4])
        XCTAssertEqual(target.dtype, .int32)
        XCTAssertEqual(target.shape, [5, 1])
        XCTAssertTrue(target.doubles.allSatisfy { $0 >= 0 && $0 < 4 }, "class indices are 0-based")
        XCTAssertEqual(job.manifest.parameters["shuffle"], .bool(false))
        XCTAssertEqual(job.manifest.computeUnits, .all)
    }

    func testRegressorAndKNNPipelineJobsKeepTheirSpecialCases() throws {
        let jobs = try folders("jobs")
        let regressor = try JobBundle.open(at: XCTUnwrap(jobs.first { $0.lastPathComponent == "golden-regressor" }))
        XCTAssertNil(regressor.manifest.probe)
        XCTAssertEqual(regressor.manifest.parameters, [:])
        let knn = try JobBundle.open(at: XCTUnwrap(jobs.first { $0.lastPathComponent == "golden-knn-pipeline" }))
        XCTAssertEqual(knn.manifest.model.updateScope, "knn")
        XCTAssertEqual(knn.manifest.model.updatableLayers, [])
        XCTAssertEqual(knn.manifest.events, [])
        XCTAssertEqual(knn.manifest.training.features[0].kind, .image(width: 4, height: 4, colorSpace: .grayscale))
        XCTAssertEqual(try knn.labels("train/label.json", as: String.self).count, 6)
    }

    func testEveryGoldenResultsBundleOpensAndRoundTrips() throws {
        let results = try folders("results")
        XCTAssertEqual(results.map(\.lastPathComponent), ["cancelled", "failed", "reference-knn", "succeeded"])
        for folder in results {
            let bundle = try ResultsBundle.open(at: folder, expectedJobID: expectedJobID(ofResults: folder))
            let manifest = bundle.manifest
            let encoded = try ContractJSON.encoder().encode(manifest)
            XCTAssertEqual(try ContractJSON.decode(ResultsManifest.self, from: encoded, file: "results.json"), manifest)
            XCTAssertEqual(try bundle.events().count, manifest.events.count)
        }
    }

    func testGoldenResultsKeepStatusSpecificShapes() throws {
        let results = Dictionary(uniqueKeysWithValues: try folders("results").map { ($0.lastPathComponent, $0) })
        let cancelled = try ResultsBundle.open(
            at: XCTUnwrap(results["cancelled"]), expectedJobID: "golden-classifier-image")
        XCTAssertEqual(cancelled.manifest.status, .cancelled)
        XCTAssertFalse(try cancelled.events().contains { $0.event == .completion })
        let failed = try ResultsBundle.open(at: XCTUnwrap(results["failed"]), expectedJobID: "golden-classifier-image")
        XCTAssertEqual(failed.manifest.error?.phase, .train)
        XCTAssertNil(failed.manifest.tasks[0].writeSeconds)
        let knn = try ResultsBundle.open(at: XCTUnwrap(results["reference-knn"]), expectedJobID: "golden-knn-pipeline")
        XCTAssertEqual(knn.manifest.producer.name, .reference)
        XCTAssertNotNil(knn.manifest.producer.semantics)
        XCTAssertEqual(knn.manifest.model?.format, .mlmodel)
        let succeeded = try ResultsBundle.open(
            at: XCTUnwrap(results["succeeded"]), expectedJobID: "golden-classifier-image")
        let probs = try XCTUnwrap(succeeded.manifest.probe?.outputs.first { $0.type == .dictionary })
        XCTAssertEqual(probs.classes?.count, 3)
    }

    func testEveryInvalidGoldenBundleIsRefusedForItsRule() throws {
        let invalid = try folders("invalid")
        let expectedURL = Self.contract.appendingPathComponent("invalid/expected.json")
        let python = try JSONDecoder().decode([String: [String: String]].self, from: Data(contentsOf: expectedURL))
        XCTAssertEqual(Set(invalid.map(\.lastPathComponent)), Set(python.keys))
        XCTAssertEqual(Set(python.keys), Set(Self.expectedRefusals.keys), "a new invalid bundle needs a row here")
        let rules = try sameRule()
        for folder in invalid {
            let name = folder.lastPathComponent
            let entry = try XCTUnwrap(python[name])
            let jobID = try XCTUnwrap(entry["expected_job_id"])
            let (reader, kind) = try XCTUnwrap(Self.expectedRefusals[name])
            XCTAssertEqual(entry["reader"], reader, name)
            XCTAssertTrue(rules[entry["error"] ?? "", default: []].contains(kind), "\(name): \(kind)")
            let error = assertRefused(kind) {
                if reader == "job" {
                    _ = try JobBundle.open(at: folder, expectedJobID: jobID)
                } else {
                    _ = try ResultsBundle.open(at: folder, expectedJobID: jobID)
                }
            }
            XCTAssertNotNil(error, name)
        }
    }
}
