import Foundation

/// One line of `events.jsonl`.
public struct ProgressEvent: Codable, Equatable, Sendable {
    /// The progress events plus `completion`, which the app always logs when a task finishes (not when cancelled).
    public enum Name: String, Codable, Sendable, CaseIterable {
        case trainingBegin, epochEnd, miniBatchEnd, completion
    }

    public var task: Int
    public var event: Name
    /// Core ML's 0-based `epochIndex`.
    public var epoch: Int?
    /// Core ML's 0-based `miniBatchIndex` within the epoch.
    public var miniBatch: Int?
    /// `MLMetricKey.lossValue`; `nil` when Core ML reports none or the value is not finite.
    public var loss: Double?
    /// Seconds since the task's `resume()`, on a monotonic clock.
    public var t: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case task, event, epoch, miniBatch = "mini_batch", loss, t
    }

    public init(task: Int, event: Name, epoch: Int?, miniBatch: Int?, loss: Double?, t: Double) {
        self.task = task
        self.event = event
        self.epoch = epoch
        self.miniBatch = miniBatch
        self.loss = finiteOrNil(loss)
        self.t = t
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        task = try container.decode(Int.self, forKey: .task)
        event = try container.decode(Name.self, forKey: .event)
        epoch = try container.decode(Int?.self, forKey: .epoch)
        miniBatch = try container.decode(Int?.self, forKey: .miniBatch)
        loss = try container.decode(Double?.self, forKey: .loss)
        t = try container.decode(Double.self, forKey: .t)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(event, forKey: .event)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(miniBatch, forKey: .miniBatch)
        try container.encode(finiteOrNil(loss), forKey: .loss)
        try container.encode(t, forKey: .t)
    }
}

/// The JSON-lines event log. Core ML calls progress handlers on its own queue, so appends are serialised by a
/// lock; the log is kept in memory (a few thousand small lines at most) and written once into the results bundle.
/// A mirrored log also appends each line to a file as it happens, so the host can follow a running job.
public final class EventLog: @unchecked Sendable {
    public static let fileName = "events.jsonl"

    private let lock = NSLock()
    private var events: [ProgressEvent] = []
    private var mirror: FileHandle?

    public init() {}

    /// A log that also appends every line to `file` (created, or emptied, now; parent folders are created), e.g.
    /// `outbox/.<job_id>.partial/events.jsonl`, which the host reads while the job runs (docs/contract.md).
    public init(mirroringTo file: URL) throws(CompanionError) {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard manager.createFile(atPath: file.path, contents: Data()) else {
                throw CompanionError.io(path: file.path, operation: "create", reason: "the file cannot be created")
            }
            mirror = try FileHandle(forWritingTo: file)
        } catch let error as CompanionError {
            throw error
        } catch {
            throw .io(path: file.path, operation: "open for appending", reason: error.localizedDescription)
        }
    }

    public func append(_ event: ProgressEvent) {
        lock.lock()
        defer { lock.unlock() }
        events.append(event)
        guard let mirror else { return }
        do {
            try mirror.write(contentsOf: try Self.encode([event]))
        } catch {
            // The live copy is a progress view for the host, never the record: the results bundle is written
            // from memory. A full disk must not fail the training, so mirroring just stops.
            stopMirroringLocked()
        }
    }

    /// Ends the live copy (before the results bundle replaces the folder it lives in); later appends stay in memory.
    public func stopMirroring() {
        lock.lock()
        defer { lock.unlock() }
        stopMirroringLocked()
    }

    private func stopMirroringLocked() {
        try? mirror?.close()
        mirror = nil
    }

    public var snapshot: [ProgressEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// The log as `events.jsonl` bytes: one compact JSON object per line, each line ending in `\n`.
    public func jsonLines() throws(CompanionError) -> Data {
        try Self.encode(snapshot)
    }

    public static func encode(_ events: [ProgressEvent]) throws(CompanionError) -> Data {
        let encoder = ContractJSON.lineEncoder()
        var data = Data()
        for event in events {
            do {
                data.append(try encoder.encode(event))
            } catch {
                throw .invalidManifest(file: fileName, field: "task \(event.task) \(event.event)", reason: "\(error)")
            }
            data.append(0x0a)
        }
        return data
    }

    /// Parses `events.jsonl` bytes back into events (blank lines are refused: they would miscount).
    public static func decode(_ data: Data, file: String = fileName) throws(CompanionError) -> [ProgressEvent] {
        var events: [ProgressEvent] = []
        let lines = data.split(separator: 0x0a, omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            if line.isEmpty, number == lines.count - 1 { break }
            let where_ = "\(file):\(number + 1)"
            let event = try ContractJSON.decode(ProgressEvent.self, from: Data(line), file: where_)
            try ContractRules.check(event, file: where_)
            events.append(event)
        }
        return events
    }
}
