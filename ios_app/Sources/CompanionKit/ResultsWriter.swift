import Foundation

/// The staging folder of a results bundle being written (`outbox/.<job_id>.partial/`). Everything written here
/// becomes visible to the host only when the writer renames the folder into place and writes `DONE`.
public final class ResultsStaging {
    public let root: URL

    init(root: URL) {
        self.root = root
    }

    /// The URL for a bundle path, with parent folders created; for writers that write the file themselves
    /// (`MLModel.write(to:)`, Core ML's compiled model folder).
    public func url(for path: String) throws(CompanionError) -> URL {
        let url = try BundlePath.resolve(path, in: root, field: "results path")
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true
            )
        } catch {
            throw .io(path: path, operation: "create folder", reason: error.localizedDescription)
        }
        return url
    }

    public func write(_ data: Data, to path: String) throws(CompanionError) {
        let url = try url(for: path)
        do {
            try data.write(to: url, options: .withoutOverwriting)
        } catch {
            throw .io(path: path, operation: "write", reason: error.localizedDescription)
        }
    }

    public func write(_ array: NpyArray, to path: String) throws(CompanionError) {
        try write(array.encoded(), to: path)
    }

    /// Writes `value` as a JSON document (the probe's string / int64 lists).
    public func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws(CompanionError) {
        let data: Data
        do {
            data = try ContractJSON.lineEncoder().encode(value)
        } catch {
            throw .invalidManifest(file: path, field: "(document)", reason: "cannot be encoded: \(error)")
        }
        try write(data, to: path)
    }

    /// Copies a file or a whole folder (a compiled model) into the bundle.
    public func copyItem(at source: URL, to path: String) throws(CompanionError) {
        let url = try url(for: path)
        do {
            try FileManager.default.copyItem(at: source, to: url)
        } catch {
            throw .io(path: path, operation: "copy \(source.path)", reason: error.localizedDescription)
        }
    }
}

/// Writes a results bundle so that the host sees either nothing or a complete bundle: everything goes into
/// `outbox/.<job_id>.partial/`, the manifest is checked against what is on disk, `results.json` is written
/// with the hash of every file, the folder is renamed to `outbox/<job_id>/`, and `DONE` is written last.
public enum ResultsWriter {
    /// Runs `body` to fill the staging folder and return the manifest (its `files` is filled in here), then
    /// publishes the bundle. Any error, from `body` or from publishing, removes the partial work and is rethrown.
    @discardableResult
    public static func write(
        outbox: URL, jobID: String, body: (ResultsStaging) throws -> ResultsManifest
    ) throws -> URL {
        guard JobID.isValid(jobID) else {
            throw CompanionError.invalidManifest(
                file: "results.json", field: "job_id", reason: "'\(jobID)' is not a job id")
        }
        let staging = stagingURL(outbox: outbox, jobID: jobID)
        let destination = outbox.appendingPathComponent(jobID)
        try prepare(staging: staging, outbox: outbox)
        do {
            let manifest = try body(ResultsStaging(root: staging))
            try seal(manifest, jobID: jobID, staging: staging)
            try publish(staging: staging, destination: destination)
        } catch {
            // Best effort: the original error is the one worth reporting, and a leftover partial folder is
            // never read (no DONE) and is discarded by the next run for this job.
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
        do {
            try writeSentinel(in: destination, jobID: jobID)
        } catch {
            // A bundle without DONE is never read; removing it keeps the outbox to "nothing or complete".
            try? FileManager.default.removeItem(at: destination)
            throw error
        }
        return destination
    }

    /// `outbox/.<job_id>.partial/`: the folder a job's results are written into before the rename, and where its
    /// events are mirrored while it runs (the host's `partial_path`).
    public static func stagingURL(outbox: URL, jobID: String) -> URL {
        outbox.appendingPathComponent(".\(jobID).partial")
    }

    /// The `DONE` sentinel's content: the job id, then the sha256 of `results.json`.
    public static func sentinel(jobID: String, resultsSHA256: String) -> Data {
        Data("\(jobID)\n\(resultsSHA256)\n".utf8)
    }

    private static func prepare(staging: URL, outbox: URL) throws(CompanionError) {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: outbox, withIntermediateDirectories: true)
            // A partial folder left by a crashed run is garbage by definition.
            if BundlePath.entry(at: staging) != .missing {
                try manager.removeItem(at: staging)
            }
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw .io(path: staging.path, operation: "create staging folder", reason: error.localizedDescription)
        }
    }

    private static func seal(_ manifest: ResultsManifest, jobID: String, staging: URL) throws {
        var manifest = manifest
        try check(manifest, jobID: jobID, staging: staging)
        manifest.files = try BundleFiles.hashAll(
            root: staging, exempt: [ResultsManifest.fileName, ResultsManifest.sentinelName]
        )
        let data = try ContractJSON.encoder().encode(manifest)
        try ResultsStaging(root: staging).write(data, to: ResultsManifest.fileName)
    }

    /// Refuses a manifest that does not describe the staging folder: wrong job, missing artifacts, a miscounted
    /// event log, or a status that contradicts its tasks.
    static func check(_ manifest: ResultsManifest, jobID: String, staging: URL) throws(CompanionError) {
        let file = ResultsManifest.fileName
        guard manifest.jobID == jobID else { throw .jobIDMismatch(file: file, expected: jobID, found: manifest.jobID) }
        guard manifest.schemaVersion == ContractVersion.current, manifest.kind == ResultsManifest.kindName else {
            throw .invalidManifest(file: file, field: "schema_version", reason: "must be \(ContractVersion.current)")
        }
        guard !manifest.tasks.isEmpty else { throw .invalidManifest(file: file, field: "tasks", reason: "is empty") }
        guard manifest.status == RunStatus.combined(manifest.tasks.map(\.status)) else {
            throw .invalidManifest(file: file, field: "status", reason: "'\(manifest.status)' contradicts the tasks")
        }
        var artifacts: [(path: String, field: String, entry: BundlePath.Entry)] = [
            (manifest.events.path, "events.path", .file)
        ]
        if let model = manifest.model {
            artifacts.append((model.path, "model.path", model.format == .mlmodelc ? .directory : .file))
        }
        artifacts += manifest.parameters.enumerated().map { ($1.path, "parameters[\($0)].path", .file) }
        artifacts += (manifest.probe?.outputs ?? []).enumerated().map { ($1.path, "probe.outputs[\($0)].path", .file) }
        for (path, field, wanted) in artifacts {
            let url = try BundlePath.resolve(path, in: staging, field: field)
            guard BundlePath.entry(at: url) == wanted else { throw .missingFile(path: path) }
        }
        let log = try BoundedFile.read(
            staging.appendingPathComponent(manifest.events.path), limit: Limits.eventsBytes,
            path: manifest.events.path)
        let lines = try EventLog.decode(log, file: manifest.events.path).count
        guard lines == manifest.events.count else {
            throw .invalidManifest(
                file: file, field: "events.count", reason: "is \(manifest.events.count), the log has \(lines) lines")
        }
    }

    private static func publish(staging: URL, destination: URL) throws(CompanionError) {
        guard BundlePath.entry(at: destination) == .missing else { throw .outboxOccupied(path: destination.path) }
        do {
            // Same folder, so this is a rename(2): the bundle appears whole or not at all.
            try FileManager.default.moveItem(at: staging, to: destination)
        } catch {
            throw .io(
                path: destination.path, operation: "rename staging folder into place",
                reason: error.localizedDescription)
        }
    }

    private static func writeSentinel(in destination: URL, jobID: String) throws(CompanionError) {
        let resultsHash = try SHA256.hex(ofFileAt: destination.appendingPathComponent(ResultsManifest.fileName))
        let temporary = destination.appendingPathComponent(".\(ResultsManifest.sentinelName).partial")
        let final = destination.appendingPathComponent(ResultsManifest.sentinelName)
        do {
            try sentinel(jobID: jobID, resultsSHA256: resultsHash).write(to: temporary)
            try FileManager.default.moveItem(at: temporary, to: final)
        } catch {
            throw .io(path: final.path, operation: "write DONE", reason: error.localizedDescription)
        }
    }
}
