@testable import CompanionKit
import Foundation
import XCTest

/// A job's learning-rate schedule and parity case: decoded from the golden bundles Python writes, looked up per
/// epoch boundary as the runner's epochEnd handler does, and refused by the same rules as the Python reader.
final class ScheduleTests: XCTestCase {
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

    private func golden(_ name: String) throws -> JobManifest {
        let jobs = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../tests/data/contract/jobs").standardizedFileURL
        return try JobBundle.open(at: jobs.appendingPathComponent(name), expectedJobID: name).manifest
    }

    func testTheGoldenClassifierJobCarriesItsScheduleAndTheRunnerFindsEachBoundary() throws {
        let job = try golden("golden-classifier-image")
        XCTAssertEqual(job.schedule, [LearningRateStep(epoch: 1, learningRate: 0.01)])
        XCTAssertEqual(job.parameters["learningRate"], .double(0.02))
        XCTAssertNil(job.learningRate(startingEpoch: 0), "epoch 0 trains at the configured rate")
        XCTAssertEqual(job.learningRate(startingEpoch: 1), 0.01, "epochEnd of epoch 0 sets epoch 1's rate")
        XCTAssertNil(job.learningRate(startingEpoch: 2))
        XCTAssertNil(job.parityCase)
    }

    func testTheGoldenKNNJobNamesItsParityCaseAndHasNoSchedule() throws {
        let job = try golden("golden-knn-pipeline")
        XCTAssertEqual(job.parityCase, "sketches")
        XCTAssertEqual(job.schedule, [])
    }

    func testScheduleAndCaseRoundTripAndStayAbsentWhenUnset() throws {
        try fixture.saveRaw {
            $0["schedule"] = [["epoch": 1, "learningRate": 0.005]]
            $0["case"] = "adam"
            $0["events"] = ["epochEnd"]
        }
        let job = try JobBundle.open(at: fixture.root).manifest
        let encoded = try ContractJSON.encoder().encode(job)
        XCTAssertEqual(try ContractJSON.decode(JobManifest.self, from: encoded, file: "job.json"), job)
        var plain = job
        plain.schedule = []
        plain.parityCase = nil
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: ContractJSON.encoder().encode(plain)) as? [String: Any])
        XCTAssertNil(object["schedule"])
        XCTAssertNil(object["case"])
    }

    func testEpochsThatDoNotIncreaseAreRefused() throws {
        try fixture.saveRaw {
            $0["schedule"] = [["epoch": 2, "learningRate": 0.01], ["epoch": 2, "learningRate": 0.001]]
            $0["events"] = ["epochEnd"]
        }
        let error = assertRefused("invalidManifest") { try JobBundle.open(at: fixture.root) }
        XCTAssertEqual(
            error,
            .invalidManifest(
                file: "job.json", field: "schedule[1].epoch", reason: "is 2; epochs start at 1 and must increase"))
    }

    func testAScheduleWithoutAnEpochEndHandlerIsRefused() throws {
        try fixture.saveRaw {
            $0["schedule"] = [["epoch": 1, "learningRate": 0.01]]
            $0["events"] = ["miniBatchEnd"]
        }
        let error = assertRefused("invalidManifest") { try JobBundle.open(at: fixture.root) }
        if case let .invalidManifest(_, field, _) = error { XCTAssertEqual(field, "events") }
    }

    func testAStepWithAnUnknownKeyIsRefused() throws {
        try fixture.saveRaw {
            $0["schedule"] = [["epoch": 1, "learningRate": 0.01, "momentum": 0.5]]
            $0["events"] = ["epochEnd"]
        }
        XCTAssertThrowsError(try JobBundle.open(at: fixture.root))
    }

    func testAParityCaseMustBeAPlainName() throws {
        try fixture.saveRaw { $0["case"] = "../adam" }
        assertRefused("invalidManifest") { try JobBundle.open(at: fixture.root) }
        XCTAssertTrue(ParityCase.isValid("sketches"))
        XCTAssertFalse(ParityCase.isValid("Adam"))
    }
}
