import Foundation

/// Turns the progress callbacks of one update task into `events.jsonl` lines, following the contract: `t` is
/// measured from `resume()` on a monotonic clock, and a `miniBatchEnd` (for which Core ML reports no epoch)
/// gets the epoch after the last `epochEnd`, counting one more whenever `miniBatchIndex` (0-based within the
/// epoch) fails to grow, so the epoch is right without `epochEnd` handlers too. Core ML calls handlers on its own
/// queue, so state is locked.
public final class TaskEventRecorder: @unchecked Sendable {
    public let task: Int
    private let log: EventLog
    private let lock = NSLock()
    private var stopwatch: Stopwatch?
    private var lastEpochEnded: Int?
    private var miniBatchEpoch = 0
    private var lastMiniBatch: Int?
    private var lastLoss: Double?

    public init(task: Int, log: EventLog) {
        self.task = task
        self.log = log
    }

    /// Starts the clock; call right before `MLUpdateTask.resume()`.
    public func resumed() {
        lock.lock()
        defer { lock.unlock() }
        stopwatch = Stopwatch()
    }

    /// Seconds since `resumed()`, or 0 before it.
    public var elapsedSeconds: Double {
        lock.lock()
        defer { lock.unlock() }
        return stopwatch?.elapsedSeconds ?? 0
    }

    /// Records one progress event with the metrics Core ML reported for it, and returns the logged line.
    @discardableResult
    public func record(_ kind: ProgressEventKind, epochIndex: Int?, miniBatchIndex: Int?, loss: Double?)
        -> ProgressEvent
    {
        lock.lock()
        defer { lock.unlock() }
        let t = stopwatch?.elapsedSeconds ?? 0
        let event: ProgressEvent
        switch kind {
        case .trainingBegin:
            event = ProgressEvent(task: task, event: .trainingBegin, epoch: nil, miniBatch: nil, loss: nil, t: t)
        case .miniBatchEnd:
            if let miniBatchIndex, let last = lastMiniBatch, miniBatchIndex <= last { miniBatchEpoch += 1 }
            lastMiniBatch = miniBatchIndex
            event = ProgressEvent(
                task: task, event: .miniBatchEnd, epoch: miniBatchEpoch, miniBatch: miniBatchIndex, loss: loss, t: t)
        case .epochEnd:
            if let epochIndex { lastEpochEnded = epochIndex }
            miniBatchEpoch = epochIndex.map { $0 + 1 } ?? miniBatchEpoch + 1
            lastMiniBatch = nil
            event = ProgressEvent(task: task, event: .epochEnd, epoch: epochIndex, miniBatch: nil, loss: loss, t: t)
        }
        if let loss = event.loss { lastLoss = loss }
        log.append(event)
        return event
    }

    /// Records the `completion` line (never for a cancelled task) and returns it.
    @discardableResult
    public func complete(loss: Double?) -> ProgressEvent {
        lock.lock()
        defer { lock.unlock() }
        let event = ProgressEvent(
            task: task, event: .completion, epoch: nil, miniBatch: nil, loss: loss,
            t: stopwatch?.elapsedSeconds ?? 0)
        if let loss = event.loss { lastLoss = loss }
        log.append(event)
        return event
    }

    /// Epochs that ended, as far as the `epochEnd` events show (0 when the job did not ask for them).
    public var epochsEnded: Int {
        lock.lock()
        defer { lock.unlock() }
        return lastEpochEnded.map { $0 + 1 } ?? 0
    }

    /// The last finite loss seen in any event of this task.
    public var lastReportedLoss: Double? {
        lock.lock()
        defer { lock.unlock() }
        return lastLoss
    }
}
