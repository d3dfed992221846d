import Foundation

/// The job bundles an XCTest bundle carries, one test case each, and what a case does: the portable half of
/// `ios_app/JobTests` (the XCTest glue there is Apple-only).
///
/// `mlharness package` copies each job bundle into the test bundle's resources as `Jobs/<job id>/`. The case
/// `MLHarnessJobTests/test_<job id>` runs that job with the same runner as the app and attaches the sealed
/// results bundle, zipped, as `mlharness-results-<job id>`; the host reads it back from the `.xcresult`
/// (`mlharness/xctest/names.py` holds the same names, and a test keeps the two in step).
public enum JobCases {
    public static let testClass = "MLHarnessJobTests"
    public static let jobsFolder = "Jobs"
    public static let casePrefix = "test_"
    public static let attachmentPrefix = "mlharness-results-"

    /// The test method that runs `jobID`.
    public static func caseName(for jobID: String) -> String { casePrefix + jobID }

    /// The name of the attachment that carries `jobID`'s results.
    public static func attachmentName(for jobID: String) -> String { attachmentPrefix + jobID }

    /// The jobs carried in `resources/Jobs/`, sorted by id; none when the folder is absent. Hidden entries
    /// (`.DS_Store`) are skipped; anything else that is not a folder named by a valid job id is refused.
    public static func carried(in resources: URL) throws(CompanionError) -> [CarriedJob] {
        let jobs = resources.appendingPathComponent(jobsFolder)
        switch BundlePath.entry(at: jobs) {
        case .missing: return []
        case .directory: break
        default: throw .unsafePath(path: jobsFolder, field: jobsFolder, reason: "not a folder")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: jobs.path)
        } catch {
            throw .io(path: jobs.path, operation: "list the carried jobs", reason: error.localizedDescription)
        }
        return try names.filter { !$0.hasPrefix(".") }.sorted().map { name throws(CompanionError) in
            let folder = jobs.appendingPathComponent(name)
            guard JobID.isValid(name), BundlePath.entry(at: folder) == .directory else {
                throw .unsafePath(
                    path: "\(jobsFolder)/\(name)", field: jobsFolder,
                    reason: "not a job bundle folder named by its job id")
            }
            return CarriedJob(jobID: name, folder: folder)
        }
    }
}

/// What runs a job for a case: `CoreMLJobRunner` on a device, a stand-in in tests.
public protocol JobCaseRunner: Sendable {
    /// Runs `job` and returns its published results bundle in `outbox`; throws only when nothing was published.
    func run(_ job: JobBundle, outbox: URL) async throws -> URL
    /// Publishes a `failed` results bundle for a job that could not be read.
    func publishRefusal(jobID: String, error: CompanionError, outbox: URL) throws -> URL
}

/// One job bundle an XCTest bundle carries.
public struct CarriedJob: Sendable, Equatable {
    public let jobID: String
    public let folder: URL

    public init(jobID: String, folder: URL) {
        self.jobID = jobID
        self.folder = folder
    }

    public var caseName: String { JobCases.caseName(for: jobID) }
    public var attachmentName: String { JobCases.attachmentName(for: jobID) }

    /// Runs the job with `runner` inside `workspace` (a new or empty folder) and returns the sealed results bundle
    /// zipped as `workspace/<attachment name>.zip`.
    ///
    /// A job that trains badly, fails or cannot be read still answers with a sealed bundle (status `failed`,
    /// with the reason): that is a result, judged on the host. This throws only a harness error, when no sealed
    /// bundle can be produced: the runner published nothing, what it published does not pass the results reader,
    /// or the archive cannot be written.
    public func run(with runner: some JobCaseRunner, workspace: URL) async throws -> URL {
        let outbox = workspace.appendingPathComponent("outbox")
        do {
            try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        } catch {
            throw CompanionError.io(
                path: outbox.path, operation: "create the outbox", reason: error.localizedDescription)
        }
        let results: URL
        switch Result(catching: { () throws(CompanionError) in try JobBundle.open(at: folder, expectedJobID: jobID) }) {
        case let .success(job):
            results = try await runner.run(job, outbox: outbox)
        case let .failure(refusal) where refusal.isRefusal:
            // As the app does: the host gets a failed bundle naming the refusal instead of nothing.
            results = try runner.publishRefusal(jobID: jobID, error: refusal, outbox: outbox)
        case let .failure(error):
            throw error
        }
        // Sealed means what the host will accept: DONE, the job id, every hash.
        _ = try ResultsBundle.open(at: results, expectedJobID: jobID)
        return try ZipArchive.write(folder: results, to: workspace.appendingPathComponent(attachmentName + ".zip"))
    }
}
