import CompanionKit
import Foundation

// companion-cli: the portable face of CompanionKit. `validate-job` checks a job bundle exactly as the app does;
// `write-results` writes a synthetic results bundle (producer "companion-cli") through the real atomic writer,
// so the Python reader can be tested against Swift output on any machine. `run-case` does what one XCTest job case
// does (JobCases / CarriedJob in CompanionKit) with that fixture in place of Core ML, and prints the zip the case
// would attach, so the host's xcresult reader can be tested against an attachment Swift made.
//
// Exit codes: 0 ok, 1 the bundle is refused (the answer is no), 2 usage or I/O error.

let usage = """
    usage: companion-cli validate-job JOB_DIR [--job-id ID]
           companion-cli validate-results RESULTS_DIR --job-id ID
           companion-cli verdicts CORPUS_DIR
           companion-cli write-results --job JOB_DIR --out OUTBOX [--status succeeded|failed|cancelled]
           companion-cli run-case --resources DIR --job-id ID --workspace DIR [--status succeeded|failed|cancelled]
    """

struct UsageError: Error {
    let message: String
}

/// `--name value` options after the command; anything else is a positional argument.
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]

    init(_ arguments: ArraySlice<String>, known: Set<String>) throws(UsageError) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("--") else {
                positional.append(argument)
                continue
            }
            let name = String(argument.dropFirst(2))
            guard known.contains(name) else { throw UsageError(message: "unknown option \(argument)") }
            guard let value = rest.popFirst() else { throw UsageError(message: "\(argument) needs a value") }
            options[name] = value
        }
    }

    func required(_ name: String) throws(UsageError) -> String {
        guard let value = options[name] else { throw UsageError(message: "--\(name) is required") }
        return value
    }
}

func validateJob(_ arguments: ArraySlice<String>) throws -> Int32 {
    let parsed = try Arguments(arguments, known: ["job-id"])
    guard parsed.positional.count == 1 else { throw UsageError(message: "validate-job takes one JOB_DIR") }
    let job = try JobBundle.open(
        at: URL(fileURLWithPath: parsed.positional[0]), expectedJobID: parsed.options["job-id"])
    let manifest = job.manifest
    print(
        "ok \(manifest.jobID): \(manifest.model.path) (\(manifest.model.kind)), "
            + "\(manifest.training.count) training examples, probe \(manifest.probe?.count ?? 0), repeat \(manifest.repeatCount)"
    )
    return 0
}

func validateResults(_ arguments: ArraySlice<String>) throws -> Int32 {
    let parsed = try Arguments(arguments, known: ["job-id"])
    guard parsed.positional.count == 1 else { throw UsageError(message: "validate-results takes one RESULTS_DIR") }
    let bundle = try ResultsBundle.open(
        at: URL(fileURLWithPath: parsed.positional[0]),
        expectedJobID: try parsed.required("job-id"))
    let manifest = bundle.manifest
    print(
        "ok \(manifest.jobID): \(manifest.status.rawValue) by \(manifest.producer.name.rawValue), "
            + "\(manifest.tasks.count) tasks, \(manifest.events.count) events")
    return 0
}

/// One verdict per case folder of a corpus (`<case>/case.json` says {"reader": "job"|"results", "job_id": ...}
/// and `<case>/bundle` is the bundle), as JSON lines on stdout, each flushed before the next case is read so a
/// crash is pinned to the case that caused it.
func verdicts(_ arguments: ArraySlice<String>) throws -> Int32 {
    let parsed = try Arguments(arguments, known: [])
    guard parsed.positional.count == 1 else { throw UsageError(message: "verdicts takes one CORPUS_DIR") }
    let corpus = URL(fileURLWithPath: parsed.positional[0])
    let cases = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted()
    struct Case: Decodable {
        let reader: String
        let jobID: String?

        enum CodingKeys: String, CodingKey {
            case reader
            case jobID = "job_id"
        }
    }
    for name in cases {
        let folder = corpus.appendingPathComponent(name)
        let description = try JSONDecoder().decode(
            Case.self, from: Data(contentsOf: folder.appendingPathComponent("case.json")))
        let bundle = folder.appendingPathComponent("bundle")
        var line: [String: String] = ["case": name]
        do {
            if description.reader == "job" {
                _ = try JobBundle.open(at: bundle, expectedJobID: description.jobID)
            } else {
                _ = try ResultsBundle.open(at: bundle, expectedJobID: description.jobID ?? "")
            }
            line["verdict"] = "accepted"
        } catch {
            line["verdict"] = "refused"
            line["kind"] = error.kind
            line["message"] = String(describing: error)
        }
        let encoded = try ContractJSON.lineEncoder().encode(line)
        FileHandle.standardOutput.write(encoded + Data("\n".utf8))
    }
    return 0
}

func writeResults(_ arguments: ArraySlice<String>) throws -> Int32 {
    let parsed = try Arguments(arguments, known: ["job", "out", "status"])
    guard parsed.positional.isEmpty else { throw UsageError(message: "unexpected \(parsed.positional[0])") }
    let statusName = parsed.options["status"] ?? RunStatus.succeeded.rawValue
    guard let status = RunStatus(rawValue: statusName) else {
        throw UsageError(message: "--status must be succeeded, failed or cancelled, not \(statusName)")
    }
    let job = try JobBundle.open(at: URL(fileURLWithPath: try parsed.required("job")))
    let outbox = URL(fileURLWithPath: try parsed.required("out"))
    let fixture = FixtureResults(job: job, status: status)
    let destination = try ResultsWriter.write(outbox: outbox, jobID: job.manifest.jobID, body: fixture.write)
    print(destination.path)
    return 0
}

/// The fixture in place of CoreMLJobRunner, for `run-case`.
struct FixtureRunner: JobCaseRunner {
    let status: RunStatus

    func run(_ job: JobBundle, outbox: URL) async throws -> URL {
        try ResultsWriter.write(
            outbox: outbox, jobID: job.manifest.jobID, body: FixtureResults(job: job, status: status).write)
    }

    func publishRefusal(jobID: String, error: CompanionError, outbox: URL) throws -> URL {
        try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
            try staging.write(Data(), to: EventLog.fileName)
            let failure = RunError(phase: .load, domain: "CompanionKit", code: 1, message: error.description)
            return ResultsManifest(
                jobID: jobID, producer: Producer(name: .companionCLI, version: CompanionVersion.current),
                status: .failed, error: failure, device: FixtureResults.thisMachine(),
                tasks: [TaskRecord(index: 0, status: .failed, error: failure)], model: nil, parameters: [], probe: nil,
                events: EventsReference(count: 0))
        }
    }
}

/// One job case of a test bundle whose resources are `--resources` (holding `Jobs/<job id>/`): prints the case name
/// and the attachment it would add.
func runCase(_ arguments: ArraySlice<String>) async throws -> Int32 {
    let parsed = try Arguments(arguments, known: ["resources", "job-id", "workspace", "status"])
    guard parsed.positional.isEmpty else { throw UsageError(message: "unexpected \(parsed.positional[0])") }
    let statusName = parsed.options["status"] ?? RunStatus.succeeded.rawValue
    guard let status = RunStatus(rawValue: statusName) else {
        throw UsageError(message: "--status must be succeeded, failed or cancelled, not \(statusName)")
    }
    let jobID = try parsed.required("job-id")
    let carried = try JobCases.carried(in: URL(fileURLWithPath: try parsed.required("resources")))
    guard let job = carried.first(where: { $0.jobID == jobID }) else {
        throw UsageError(message: "no carried job \(jobID) (carried: \(carried.map(\.jobID)))")
    }
    let archive = try await job.run(
        with: FixtureRunner(status: status), workspace: URL(fileURLWithPath: try parsed.required("workspace")))
    print("\(JobCases.testClass)/\(job.caseName)")
    print("\(job.attachmentName)")
    print(archive.path)
    return 0
}

func run(_ arguments: [String]) async -> Int32 {
    guard let command = arguments.first else {
        FileHandle.standardError.write(Data((usage + "\n").utf8))
        return 2
    }
    do {
        switch command {
        case "validate-job": return try validateJob(arguments.dropFirst())
        case "validate-results": return try validateResults(arguments.dropFirst())
        case "verdicts": return try verdicts(arguments.dropFirst())
        case "write-results": return try writeResults(arguments.dropFirst())
        case "run-case": return try await runCase(arguments.dropFirst())
        default: throw UsageError(message: "unknown command \(command)")
        }
    } catch let error as UsageError {
        FileHandle.standardError.write(Data("companion-cli: \(error.message)\n\(usage)\n".utf8))
        return 2
    } catch let error as CompanionError {
        FileHandle.standardError.write(Data("refused: \(error.kind): \(error)\n".utf8))
        return error.isRefusal ? 1 : 2
    } catch {
        FileHandle.standardError.write(Data("companion-cli: \(error)\n".utf8))
        return 2
    }
}

exit(await run(Array(CommandLine.arguments.dropFirst())))
