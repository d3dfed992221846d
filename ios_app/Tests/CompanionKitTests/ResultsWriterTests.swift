@testable import CompanionKit
import Foundation
import XCTest

/// The atomic results writer: the outbox holds nothing or a complete bundle with DONE written last.
final class ResultsWriterTests: XCTestCase {
    private let jobID = "writer-job"
    private var directory: TemporaryDirectory!
    private var outbox: URL { directory.url.appendingPathComponent("outbox") }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory = nil
    }

    private func outboxEntries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).sorted()
    }

    /// Fills a staging folder with one task's events, a parameter and a probe output.
    private func fill(_ staging: ResultsStaging, status: RunStatus = .succeeded) throws -> ResultsManifest {
        let events = [
            ProgressEvent(task: 0, event: .epochEnd, epoch: 0, miniBatch: nil, loss: 0.5, t: 0.01),
            ProgressEvent(task: 0, event: .completion, epoch: nil, miniBatch: nil, loss: 0.5, t: 0.02),
        ]
        try staging.write(EventLog.encode(events), to: EventLog.fileName)
        let weights = ParameterArtifact(layer: "dense_1", scope: "model1", kind: .weights, shape: [2, 2])
        try staging.write(NpyArray(shape: [2, 2], storage: .float32([1, 2, 3, 4])), to: weights.path)
        try staging.writeJSON(["cat"], to: "probe/label.json")
        let compiled = try staging.url(for: "model/Tiny.mlmodelc")
        try FileManager.default.createDirectory(at: compiled, withIntermediateDirectories: true)
        try Data("weights".utf8).write(to: compiled.appendingPathComponent("model.espresso.weights"))
        var task = TaskRecord(index: 0, status: status)
        task.epochsCompleted = 1
        task.finalLoss = 0.5
        task.trainSeconds = 0.02
        return ResultsManifest(
            jobID: jobID, producer: Producer(name: .companionMacOS, version: CompanionVersion.current), status: status,
            error: nil,
            device: DeviceInfo(
                name: "test", model: "Mac", osName: "macOS", osVersion: "15.0", osBuild: "24A335",
                isSimulator: false, chip: nil, host: nil),
            tasks: [task], model: ResultModel(path: "model/Tiny.mlmodelc", format: .mlmodelc), parameters: [weights],
            probe: ProbeResults(
                count: 1, outputs: [ProbeOutput(name: "label", type: .string, path: "probe/label.json")]),
            events: EventsReference(count: events.count)
        )
    }

    func testCompleteBundleIsReadableAndDONENamesJobAndManifestHash() throws {
        let destination = try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) }
        XCTAssertEqual(outboxEntries(), [jobID])
        let bundle = try ResultsBundle.open(at: destination, expectedJobID: jobID)
        XCTAssertEqual(bundle.manifest.parameters.first?.path, "parameters/model1.dense_1.weights.npy")
        XCTAssertEqual(
            Set(bundle.manifest.files.keys),
            [
                "events.jsonl", "parameters/model1.dense_1.weights.npy", "probe/label.json",
                "model/Tiny.mlmodelc/model.espresso.weights",
            ])
        XCTAssertEqual(try bundle.events().map(\.event), [.epochEnd, .completion])
        let done = try String(contentsOf: destination.appendingPathComponent("DONE"), encoding: .utf8)
        let manifestHash = try SHA256.hex(ofFileAt: destination.appendingPathComponent("results.json"))
        XCTAssertEqual(done, "\(jobID)\n\(manifestHash)\n")
    }

    func testFailureMidWriteLeavesNoBundleNoPartialAndNoDONE() throws {
        struct Interrupted: Error {}
        XCTAssertThrowsError(
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                try staging.write(Data("{}\n".utf8), to: EventLog.fileName)
                try staging.write(
                    NpyArray(shape: [1], storage: .float32([1])).encoded(), to: "parameters/a.weights.npy")
                throw Interrupted()
            }
        ) { XCTAssertTrue($0 is Interrupted) }
        XCTAssertEqual(outboxEntries(), [])
    }

    func testManifestThatMiscountsEventsIsRefusedAndLeavesNothing() throws {
        assertRefused("invalidManifest") {
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                var manifest = try fill(staging)
                manifest.events.count = 3
                return manifest
            }
        }
        XCTAssertEqual(outboxEntries(), [])
    }

    func testManifestNamingAMissingArtifactIsRefused() throws {
        assertRefused("missingFile") {
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                var manifest = try fill(staging)
                manifest.parameters.append(ParameterArtifact(layer: "dense_2", scope: "", kind: .biases, shape: [2]))
                return manifest
            }
        }
        XCTAssertEqual(outboxEntries(), [])
    }

    func testStatusThatContradictsTheTasksIsRefused() throws {
        assertRefused("invalidManifest") {
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                var manifest = try fill(staging, status: .failed)
                manifest.status = .succeeded
                return manifest
            }
        }
        XCTAssertEqual(outboxEntries(), [])
    }

    func testOtherJobsManifestIsRefused() throws {
        assertRefused("jobIDMismatch") {
            try ResultsWriter.write(outbox: outbox, jobID: "other-job") { try fill($0) }
        }
        XCTAssertEqual(outboxEntries(), [])
    }

    func testExistingBundleIsNeverReplaced() throws {
        let first = try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) }
        let before = try Data(contentsOf: first.appendingPathComponent("results.json"))
        assertRefused("outboxOccupied") { try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) } }
        XCTAssertEqual(outboxEntries(), [jobID])
        XCTAssertEqual(try Data(contentsOf: first.appendingPathComponent("results.json")), before)
    }

    func testStalePartialFolderFromACrashIsDiscarded() throws {
        let stale = outbox.appendingPathComponent(".\(jobID).partial")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: stale.appendingPathComponent("leftover.npy"))
        let destination = try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) }
        XCTAssertEqual(outboxEntries(), [jobID])
        XCTAssertEqual(BundlePath.entry(at: destination.appendingPathComponent("leftover.npy")), .missing)
    }

    func testLiveEventsMirroredIntoThePartialFolderGiveWayToThePublishedBundle() throws {
        let live = ResultsWriter.stagingURL(outbox: outbox, jobID: jobID).appendingPathComponent(EventLog.fileName)
        let log = try EventLog(mirroringTo: live)
        log.append(ProgressEvent(task: 0, event: .trainingBegin, epoch: nil, miniBatch: nil, loss: nil, t: 0))
        XCTAssertEqual(outboxEntries(), [".\(jobID).partial"])
        XCTAssertEqual(try EventLog.decode(Data(contentsOf: live)).map(\.event), [.trainingBegin])
        log.stopMirroring()
        let destination = try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) }
        XCTAssertEqual(outboxEntries(), [jobID])
        XCTAssertEqual(try ResultsBundle.open(at: destination, expectedJobID: jobID).events().count, 2)
    }

    func testReaderRefusesBundleWithoutDONEOrWithTamperedManifest() throws {
        let destination = try ResultsWriter.write(outbox: outbox, jobID: jobID) { try fill($0) }
        assertRefused("jobIDMismatch") { try ResultsBundle.open(at: destination, expectedJobID: "someone-else") }
        let results = destination.appendingPathComponent("results.json")
        try (Data(contentsOf: results) + Data(" ".utf8)).write(to: results)
        assertRefused("hashMismatch") { try ResultsBundle.open(at: destination, expectedJobID: jobID) }
        try FileManager.default.removeItem(at: destination.appendingPathComponent("DONE"))
        assertRefused("missingFile") { try ResultsBundle.open(at: destination, expectedJobID: jobID) }
    }

    func testStagingRefusesUnsafePaths() throws {
        assertRefused("unsafePath") {
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                try staging.write(Data(), to: "../escape.txt")
                return try fill(staging)
            }
        }
        XCTAssertEqual(outboxEntries(), [])
        XCTAssertEqual(BundlePath.entry(at: directory.url.appendingPathComponent("escape.txt")), .missing)
    }
}
