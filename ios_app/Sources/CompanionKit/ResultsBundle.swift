import Foundation

/// A results bundle read under the contract's reading rules: `DONE` exists and names the expected job and the
/// sha256 of `results.json`, the manifest decodes strictly, and every file hash matches.
public struct ResultsBundle: Sendable {
    public let root: URL
    public let manifest: ResultsManifest

    public static func open(at root: URL, expectedJobID: String) throws(CompanionError) -> ResultsBundle {
        let sentinelName = ResultsManifest.sentinelName
        let sentinel = try BundleFiles.readTopLevelFile(sentinelName, in: root)
        let lines = String(decoding: sentinel, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2, lines.dropFirst(2).allSatisfy(\.isEmpty) else {
            throw .invalidManifest(file: sentinelName, field: "(lines)", reason: "must hold the job id and a sha256")
        }
        guard lines[0] == expectedJobID else {
            throw .jobIDMismatch(file: sentinelName, expected: expectedJobID, found: String(lines[0]))
        }
        let file = ResultsManifest.fileName
        let data = try BundleFiles.readTopLevelFile(file, in: root)
        let actual = SHA256.hex(of: data)
        guard String(lines[1]) == actual else {
            throw .hashMismatch(path: file, expected: String(lines[1]), actual: actual)
        }
        try BundleFiles.checkSchemaVersion(data, file: file)
        let manifest = try ContractJSON.decode(ResultsManifest.self, from: data, file: file)
        guard manifest.jobID == expectedJobID else {
            throw .jobIDMismatch(file: file, expected: expectedJobID, found: manifest.jobID)
        }
        try BundleFiles.verify(root: root, listed: manifest.files, exempt: [file, sentinelName])
        try ResultsWriter.check(manifest, jobID: expectedJobID, staging: root)
        return ResultsBundle(root: root, manifest: manifest)
    }

    /// The events of every task, in order.
    public func events() throws(CompanionError) -> [ProgressEvent] {
        let data: Data
        do {
            data = try Data(contentsOf: root.appendingPathComponent(manifest.events.path))
        } catch {
            throw .io(path: manifest.events.path, operation: "read", reason: error.localizedDescription)
        }
        return try EventLog.decode(data, file: manifest.events.path)
    }
}
