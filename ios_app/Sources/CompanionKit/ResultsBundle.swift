import Foundation

/// A results bundle read under the contract's reading rules: `DONE` exists and names the expected job and the
/// sha256 of `results.json`, the manifest decodes strictly, and every file hash matches.
public struct ResultsBundle: Sendable {
    public let root: URL
    public let manifest: ResultsManifest

    public static func open(at root: URL, expectedJobID: String) throws(CompanionError) -> ResultsBundle {
        let sentinelName = ResultsManifest.sentinelName
        let lines = try sentinelLines(try BundleFiles.readTopLevelFile(sentinelName, in: root, limit: Limits.doneBytes))
        guard lines.jobID == expectedJobID else {
            throw .jobIDMismatch(file: sentinelName, expected: expectedJobID, found: lines.jobID)
        }
        let file = ResultsManifest.fileName
        let data = try BundleFiles.readTopLevelFile(file, in: root, limit: Limits.manifestBytes)
        let actual = SHA256.hex(of: data)
        guard lines.resultsSHA256 == actual else {
            throw .hashMismatch(path: file, expected: lines.resultsSHA256, actual: actual)
        }
        try BundleFiles.checkSchemaVersion(data, file: file)
        let manifest = try ContractJSON.decode(ResultsManifest.self, from: data, file: file)
        try ContractRules.check(manifest, raw: data)
        guard manifest.jobID == expectedJobID else {
            throw .jobIDMismatch(file: file, expected: expectedJobID, found: manifest.jobID)
        }
        try BundleFiles.verify(root: root, listed: manifest.files, exempt: [file, sentinelName])
        try ResultsContent.check(manifest, root: root)
        try ResultsWriter.check(manifest, jobID: expectedJobID, staging: root)
        return ResultsBundle(root: root, manifest: manifest)
    }

    /// DONE's two lines, split at `\n` bytes only: `<job id>\n<sha256 of results.json>\n` (the final newline may
    /// be missing). Anything else (a third line, blank lines, text that is not UTF-8) is refused; a `\r` stays part
    /// of its line, so `\r\n` endings name another job.
    static func sentinelLines(_ data: Data) throws(CompanionError) -> (jobID: String, resultsSHA256: String) {
        var lines = data.split(separator: 0x0a, omittingEmptySubsequences: false)
        if lines.count == 3, lines[2].isEmpty { lines.removeLast() }
        guard lines.count == 2, let jobID = String(data: Data(lines[0]), encoding: .utf8),
            let hash = String(data: Data(lines[1]), encoding: .utf8)
        else {
            throw .invalidManifest(
                file: ResultsManifest.sentinelName, field: "(lines)",
                reason: "must hold two lines: the job id and the sha256 of results.json")
        }
        return (jobID, hash)
    }

    /// The events of every task, in order.
    public func events() throws(CompanionError) -> [ProgressEvent] {
        let url = root.appendingPathComponent(manifest.events.path)
        let data = try BoundedFile.read(url, limit: Limits.eventsBytes, path: manifest.events.path)
        return try EventLog.decode(data, file: manifest.events.path)
    }
}
