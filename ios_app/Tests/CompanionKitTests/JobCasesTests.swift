@testable import CompanionKit
import Foundation
import XCTest

/// The portable half of the XCTest job cases: which jobs a test bundle carries, and what a case does with one.
final class JobCasesTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory = nil
    }

    /// Stands in for CoreMLJobRunner: publishes a sealed bundle through the real writer (or a broken one).
    struct Runner: JobCaseRunner {
        enum Mode: Sendable { case publish, publishUnsealed, throwError }
        var mode: Mode = .publish

        func run(_ job: JobBundle, outbox: URL) async throws -> URL {
            switch mode {
            case .publish: return try Self.publish(job.manifest.jobID, status: .succeeded, outbox: outbox)
            case .publishUnsealed:
                let published = try Self.publish(job.manifest.jobID, status: .succeeded, outbox: outbox)
                try FileManager.default.removeItem(at: published.appendingPathComponent("DONE"))
                return published
            case .throwError: throw CompanionError.io(path: outbox.path, operation: "publish", reason: "disk full")
            }
        }

        func publishRefusal(jobID: String, error: CompanionError, outbox: URL) throws -> URL {
            try Self.publish(jobID, status: .failed, outbox: outbox, message: error.description)
        }

        static func publish(_ jobID: String, status: RunStatus, outbox: URL, message: String? = nil) throws -> URL {
            try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                try staging.write(Data(), to: EventLog.fileName)
                let error = message.map { RunError(phase: .load, domain: "CompanionKit", code: 1, message: $0) }
                return ResultsManifest(
                    jobID: jobID, producer: Producer(name: .companionIOS, version: CompanionVersion.current),
                    status: status, error: error,
                    device: DeviceInfo(
                        name: "test", model: "iPhone16,1", osName: "iOS", osVersion: "18.5", osBuild: "22F76",
                        isSimulator: false, chip: nil, host: nil),
                    tasks: [TaskRecord(index: 0, status: status, error: error)], model: nil, parameters: [],
                    probe: nil, events: EventsReference(count: 0))
            }
        }
    }

    private func resources(jobs: Int) throws -> URL {
        let resources = directory.url.appendingPathComponent("Resources")
        let carried = resources.appendingPathComponent(JobCases.jobsFolder)
        try FileManager.default.createDirectory(at: carried, withIntermediateDirectories: true)
        if jobs > 0 {
            let fixture = try JobFixture(in: carried)
            XCTAssertEqual(fixture.root.lastPathComponent, JobFixture.jobID)
        }
        return resources
    }

    func testNamesAreTheOnesTheHostLooksFor() {
        XCTAssertEqual(JobCases.caseName(for: "tictactoe-0001"), "test_tictactoe-0001")
        XCTAssertEqual(JobCases.attachmentName(for: "tictactoe-0001"), "mlharness-results-tictactoe-0001")
        XCTAssertEqual(JobCases.testClass, "MLHarnessJobTests")
    }

    func testCarriedJobsAreTheJobFoldersSortedAndHiddenEntriesSkipped() throws {
        let resources = try resources(jobs: 1)
        let jobs = resources.appendingPathComponent(JobCases.jobsFolder)
        try FileManager.default.createDirectory(
            at: jobs.appendingPathComponent("a-job"), withIntermediateDirectories: true)
        try Data().write(to: jobs.appendingPathComponent(".DS_Store"))
        XCTAssertEqual(try JobCases.carried(in: resources).map(\.jobID), ["a-job", JobFixture.jobID])
        XCTAssertEqual(try JobCases.carried(in: directory.url.appendingPathComponent("none")), [])
    }

    func testAnythingElseAmongTheJobsIsRefusedByName() throws {
        let resources = try resources(jobs: 0)
        try Data().write(to: resources.appendingPathComponent(JobCases.jobsFolder).appendingPathComponent("notes.txt"))
        let error = assertRefused("unsafePath") { try JobCases.carried(in: resources) }
        XCTAssertTrue(error?.description.contains("Jobs/notes.txt") ?? false)
    }

    func testACaseAnswersWithTheSealedBundleZipped() async throws {
        let job = try XCTUnwrap(try JobCases.carried(in: try resources(jobs: 1)).first)
        let workspace = directory.url.appendingPathComponent("case")

        let archive = try await job.run(with: Runner(), workspace: workspace)

        XCTAssertEqual(archive.lastPathComponent, "mlharness-results-\(JobFixture.jobID).zip")
        XCTAssertGreaterThan(try Data(contentsOf: archive).count, 100)
    }

    func testAJobThatCannotBeReadStillAnswersWithAFailedBundle() async throws {
        let resources = try resources(jobs: 1)
        let job = try XCTUnwrap(try JobCases.carried(in: resources).first)
        try Data("tampered".utf8).write(to: job.folder.appendingPathComponent("train/x.npy"))
        let workspace = directory.url.appendingPathComponent("case")

        _ = try await job.run(with: Runner(), workspace: workspace)

        let published = workspace.appendingPathComponent("outbox").appendingPathComponent(JobFixture.jobID)
        let bundle = try ResultsBundle.open(at: published, expectedJobID: JobFixture.jobID)
        XCTAssertEqual(bundle.manifest.status, .failed)
        XCTAssertTrue(bundle.manifest.error?.message.contains("sha256") ?? false)
    }

    func testOnlyAHarnessErrorFailsTheCase() async throws {
        let job = try XCTUnwrap(try JobCases.carried(in: try resources(jobs: 1)).first)
        for mode in [Runner.Mode.publishUnsealed, .throwError] {
            let workspace = directory.url.appendingPathComponent("case-\(mode)")
            do {
                _ = try await job.run(with: Runner(mode: mode), workspace: workspace)
                XCTFail("\(mode): a case without a sealed bundle must fail")
            } catch let error as CompanionError {
                XCTAssertEqual(error.kind, mode == .throwError ? "io" : "missingFile", "\(mode): \(error)")
            }
            XCTAssertFalse(
                FileManager.default.fileExists(
                    atPath: workspace.appendingPathComponent(job.attachmentName + ".zip").path))
        }
    }
}
