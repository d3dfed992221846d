import Foundation

/// Where a job's bundles live in the app's Documents folder (docs/contract.md, "Where things live on the device"):
/// `inbox/<job_id>` and `outbox/`, or, when the app was launched with `--run <run_id>` (or `MLHARNESS_RUN`),
/// `runs/<run_id>/inbox/<job_id>` and `runs/<run_id>/outbox/`. A host that cannot delete files on the device
/// (`xcrun devicectl`) gives every run its own folder, so the same job can run twice.
public struct DeviceFolders: Sendable, Equatable {
    public static let runArgument = "--run"
    public static let runEnvironment = "MLHARNESS_RUN"
    public static let inboxName = "inbox"
    public static let outboxName = "outbox"
    public static let runsName = "runs"

    /// `Documents`, or `Documents/runs/<run_id>`.
    public let base: URL

    /// The folders for a launch; a run id follows the job id rule, so it is one safe path segment.
    public init(documents: URL, run: String?) throws(CompanionError) {
        guard let run else {
            base = documents
            return
        }
        guard JobID.isValid(run) else {
            throw .invalidManifest(
                file: Self.runArgument, field: "run", reason: "'\(run)' is not a valid run id (the job id rule)")
        }
        base = documents.appendingPathComponent(Self.runsName).appendingPathComponent(run)
    }

    /// The run id from `--run <id>`, else `MLHARNESS_RUN`, else nil (the plain `inbox/` and `outbox/`).
    public static func launchRun(arguments: [String], environment: [String: String]) -> String? {
        if let flag = arguments.firstIndex(of: runArgument), arguments.indices.contains(flag + 1) {
            return arguments[flag + 1]
        }
        return environment[runEnvironment].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func inbox(jobID: String) -> URL {
        base.appendingPathComponent(Self.inboxName).appendingPathComponent(jobID)
    }

    public var outbox: URL {
        base.appendingPathComponent(Self.outboxName)
    }
}
