// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLUpdateTask.init(forModelAt:trainingData:configuration:progressHandlers:)` (iOS 13 / macOS 10.15)
// - `MLUpdateProgressHandlers.init(forEvents:progressHandler:completionHandler:)` (iOS 13 / macOS 10.15)
// - `MLUpdateProgressEvent.trainingBegin`, `.epochEnd`, `.miniBatchEnd` (iOS 13 / macOS 10.15)
// - `MLUpdateContext.event`, `.metrics`, `.model`, `.task` (iOS 13 / macOS 10.15)
// - `MLMetricKey.lossValue`, `.epochIndex`, `.miniBatchIndex` (iOS 13 / macOS 10.15)
// - `MLTask.resume()`, `.cancel()`, `.state`, `.error`; `MLTaskState.completed` (iOS 13 / macOS 10.15)
// - `MLUpdateTask.resume(withParameters:)`, `MLParameterKey.learningRate` (iOS 13 / macOS 10.15): a schedule's
//   new learning rate, set from the epochEnd progress handler as Apple's documentation of the key describes
// - `MLWritable.write(to:)` (iOS 13 / macOS 10.15)
// - `FileManager.replaceItemAt(_:withItemAt:backupItemName:options:)` (iOS 4 / macOS 10.6),
//   `moveItem(at:to:)`, `createDirectory(at:withIntermediateDirectories:attributes:)`, `removeItem(at:)` (iOS 2)
// - Dispatch `DispatchQueue.global().asyncAfter(wallDeadline:execute:)` (iOS 8 / macOS 10.10): the wall clock,
//   like the event times, so a device that sleeps through a deadline still cancels the task when it wakes
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation
    import os

    /// What one `MLUpdateTask` produced. Everything here is a plain value, so it can leave Core ML's queue.
    struct TrainOutcome: Sendable {
        var status: RunStatus
        var error: RunError?
        var trainSeconds: Double?
        var completionLoss: Double?
        var completionEpochs: Int?
        /// Epochs that ended according to the `epochEnd` events (0 when the job did not ask for them).
        var epochsEnded = 0
        /// The updated model as `context.model.write(to:)` left it in the run's work folder (first task only).
        var writtenModel: URL?
        var writeSeconds: Double?
        /// The updated layers read from `context.model` inside the completion handler (first task only): the
        /// primary parameter dump, the path Apple's samples use.
        var contextDump: [DumpedTensor] = []
        /// Why the context dump is missing when it is (the reloaded dump then stands alone).
        var contextDumpProblem: String?
        /// `MLTask.state` when the runner stopped waiting for the task.
        var taskState: TaskStateName?
    }

    /// Runs one update task: registers handlers for the job's events, logs every event, cancels the task at the
    /// job's deadline, and on success writes the updated model from the completion handler (where
    /// `context.model` is valid) into a temporary folder, then moves it into place with `replaceItemAt`.
    struct UpdateTaskRunner {
        let taskIndex: Int
        let events: [ProgressEventKind]
        let deadlineSeconds: Double
        /// Where the first task's updated model goes (`<work>/model/<Name>.mlmodelc`); `nil` for later tasks.
        let modelDestination: URL?
        /// The updatable layers to dump from `context.model` in the completion handler (first task only).
        let dumpLayers: DumpRequest?
        let log: EventLog
        let logger: Logger
        let onEvent: @Sendable (ProgressEvent) -> Void
        /// The job's learning-rate schedule (`job.json` `schedule`), applied at epoch boundaries.
        var schedule: [LearningRateStep] = []

        /// How long to wait for Core ML's completion handler after `cancel()` before giving up on it.
        static let cancelGraceSeconds = 30.0

        /// Creates the task (timed: `loadSeconds` is the load of the model that training uses, inside
        /// `MLUpdateTask(forModelAt:...)`), runs it, and returns its outcome with the task's handle when Core ML
        /// may still be working on it (after a cancel whose completion never came), so the caller can wait for it.
        func run(
            compiledModel: URL, trainingData: MLArrayBatchProvider, configuration: MLModelConfiguration
        ) async throws(RunFailure) -> (outcome: TrainOutcome, loadSeconds: Double, stillRunning: TaskHandle?) {
            let recorder = TaskEventRecorder(task: taskIndex, log: log)
            let gate = OutcomeGate()
            let deadlineHit = Flag()
            let handlers = MLUpdateProgressHandlers(
                forEvents: Self.eventSet(events),
                progressHandler: events.isEmpty ? nil : progressHandler(recorder),
                completionHandler: completionHandler(recorder, gate: gate, deadlineHit: deadlineHit)
            )
            let created = try inPhase(.load) {
                try timed {
                    try MLUpdateTask(
                        forModelAt: compiledModel, trainingData: trainingData, configuration: configuration,
                        progressHandlers: handlers)
                }
            }
            let handle = TaskHandle(task: created.value)
            var outcome = await withCheckedContinuation { continuation in
                gate.install(continuation)
                scheduleDeadline(handle: handle, gate: gate, deadlineHit: deadlineHit, recorder: recorder)
                recorder.resumed()
                handle.resume()
            }
            outcome.taskState = outcome.taskState ?? handle.stateName
            if outcome.taskState?.mayStillRun == true {
                return (outcome, created.seconds, handle)
            }
            // Dropping a finished task here keeps it (and the model it holds) from inflating the next repeat's
            // memory figures; the deadline timer only holds the emptied handle.
            handle.release()
            return (outcome, created.seconds, nil)
        }

        private func progressHandler(_ recorder: TaskEventRecorder) -> (MLUpdateContext) -> Void {
            let onEvent = onEvent
            let rates = Dictionary(schedule.map { ($0.epoch, $0.learningRate) }, uniquingKeysWith: { first, _ in first })
            return { context in
                guard let kind = Self.kind(of: context.event) else { return }
                let epochIndex = context.metrics[.epochIndex] as? Int
                let event = recorder.record(
                    kind,
                    epochIndex: epochIndex,
                    miniBatchIndex: context.metrics[.miniBatchIndex] as? Int,
                    loss: context.metrics[.lossValue] as? Double
                )
                onEvent(event)
                // The next epoch's scheduled rate: the one parameter a handler may change mid-task.
                if kind == .epochEnd, let epochIndex, let rate = rates[epochIndex + 1] {
                    context.task.resume(withParameters: [.learningRate: rate])
                }
            }
        }

        private func completionHandler(
            _ recorder: TaskEventRecorder, gate: OutcomeGate, deadlineHit: Flag
        ) -> (MLUpdateContext) -> Void {
            let destination = modelDestination
            let dumpLayers = dumpLayers
            let onEvent = onEvent
            let logger = logger
            let taskIndex = taskIndex
            return { context in
                let trainSeconds = recorder.elapsedSeconds
                var outcome = TrainOutcome(status: .succeeded, trainSeconds: trainSeconds)
                outcome.epochsEnded = recorder.epochsEnded
                outcome.taskState = TaskHandle.name(of: context.task.state)
                if deadlineHit.isSet {
                    // A cancelled task has no completion line (contract), whatever state Core ML reports.
                    outcome.status = .cancelled
                    outcome.completionLoss = recorder.lastReportedLoss
                } else if context.task.state != .completed || context.task.error != nil {
                    outcome.status = .failed
                    let underlying =
                        context.task.error
                        ?? NSError(
                            domain: "org.mlupdate.companion", code: 1,
                            userInfo: [
                                NSLocalizedDescriptionKey: "update task ended in state \(context.task.state.rawValue)"
                            ])
                    outcome.error = RunFailure(.train, underlying).error
                } else {
                    let loss = context.metrics[.lossValue] as? Double
                    onEvent(recorder.complete(loss: loss))
                    outcome.completionLoss = loss
                    outcome.completionEpochs = (context.metrics[.epochIndex] as? Int).map { $0 + 1 }
                    if let dumpLayers {
                        // context.model is valid only in here: the primary dump is read before anything else.
                        do {
                            outcome.contextDump = try ParameterDump.read(context.model, request: dumpLayers)
                        } catch {
                            outcome.contextDumpProblem = String(describing: error)
                            logger.warning(
                                "task \(taskIndex): no dump from context.model: \(String(describing: error), privacy: .public)")
                        }
                    }
                    if let destination {
                        Self.writeModel(context.model, to: destination, into: &outcome)
                    }
                }
                logger.info("task \(taskIndex) finished: \(outcome.status.rawValue, privacy: .public)")
                gate.finish(outcome)
            }
        }

        /// Writes the updated model into a fresh temporary folder, then moves it over `destination`.
        private static func writeModel(_ model: any MLWritable, to destination: URL, into outcome: inout TrainOutcome) {
            let manager = FileManager.default
            let stopwatch = Stopwatch()
            let temporaryFolder = manager.temporaryDirectory.appendingPathComponent("companion-\(UUID().uuidString)")
            let temporary = temporaryFolder.appendingPathComponent(destination.lastPathComponent)
            do {
                try manager.createDirectory(at: temporaryFolder, withIntermediateDirectories: true)
                try model.write(to: temporary)
                try manager.createDirectory(
                    at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
                if manager.fileExists(atPath: destination.path) {
                    _ = try manager.replaceItemAt(destination, withItemAt: temporary, backupItemName: nil, options: [])
                } else {
                    try manager.moveItem(at: temporary, to: destination)
                }
                outcome.writtenModel = destination
                outcome.writeSeconds = stopwatch.elapsedSeconds
            } catch {
                outcome.status = .failed
                outcome.error = RunFailure(.write, error).error
            }
            do {
                if manager.fileExists(atPath: temporaryFolder.path) {
                    try manager.removeItem(at: temporaryFolder)
                }
            } catch {
                // Leftovers in the temporary directory are harmless; the system purges it.
            }
        }

        private func scheduleDeadline(
            handle: TaskHandle, gate: OutcomeGate, deadlineHit: Flag, recorder: TaskEventRecorder
        ) {
            let logger = logger
            let taskIndex = taskIndex
            DispatchQueue.global().asyncAfter(wallDeadline: .now() + deadlineSeconds) {
                guard !gate.isFinished else { return }
                deadlineHit.set()
                logger.warning("task \(taskIndex) passed its deadline: cancelling")
                handle.cancel()
                DispatchQueue.global().asyncAfter(wallDeadline: .now() + Self.cancelGraceSeconds) {
                    // Core ML normally calls the completion handler after cancel(); if it does not, stop waiting,
                    // and say in what state the task was left (the next repeat must not overlap it unnoticed).
                    gate.finish(
                        TrainOutcome(
                            status: .cancelled, trainSeconds: recorder.elapsedSeconds,
                            completionLoss: recorder.lastReportedLoss,
                            epochsEnded: recorder.epochsEnded, taskState: handle.stateName))
                }
            }
        }

        private static func eventSet(_ events: [ProgressEventKind]) -> MLUpdateProgressEvent {
            var set: MLUpdateProgressEvent = []
            for event in events {
                switch event {
                case .trainingBegin: set.insert(.trainingBegin)
                case .epochEnd: set.insert(.epochEnd)
                case .miniBatchEnd: set.insert(.miniBatchEnd)
                }
            }
            return set
        }

        private static func kind(of event: MLUpdateProgressEvent) -> ProgressEventKind? {
            if event == .trainingBegin { return .trainingBegin }
            if event == .epochEnd { return .epochEnd }
            if event == .miniBatchEnd { return .miniBatchEnd }
            return nil
        }
    }

    /// Hands the task's outcome to the waiting caller exactly once, whichever of the completion handler and the
    /// deadline's fallback comes first.
    final class OutcomeGate: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<TrainOutcome, Never>?
        private var early: TrainOutcome?
        private var finished = false

        var isFinished: Bool {
            lock.lock()
            defer { lock.unlock() }
            return finished
        }

        func install(_ continuation: CheckedContinuation<TrainOutcome, Never>) {
            lock.lock()
            if let early {
                lock.unlock()
                continuation.resume(returning: early)
                return
            }
            self.continuation = continuation
            lock.unlock()
        }

        func finish(_ outcome: TrainOutcome) {
            lock.lock()
            guard !finished else {
                lock.unlock()
                return
            }
            finished = true
            let waiting = continuation
            continuation = nil
            if waiting == nil { early = outcome }
            lock.unlock()
            waiting?.resume(returning: outcome)
        }
    }

    /// A thread-safe boolean.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false

        var isSet: Bool {
            lock.lock()
            defer { lock.unlock() }
            return value
        }

        func set() {
            lock.lock()
            value = true
            lock.unlock()
        }
    }

    /// `MLUpdateTask` is not Sendable; the deadline timer calls `cancel()` on it and the runner reads its state
    /// from other queues, serialised here.
    final class TaskHandle: @unchecked Sendable {
        private let lock = NSLock()
        private var task: MLUpdateTask?

        init(task: MLUpdateTask) {
            self.task = task
        }

        /// The task's state (`nil` once released).
        var stateName: TaskStateName? {
            lock.lock()
            defer { lock.unlock() }
            return task.map { Self.name(of: $0.state) }
        }

        static func name(of state: MLTaskState) -> TaskStateName {
            switch state {
            case .suspended: .suspended
            case .running: .running
            case .cancelling: .cancelling
            case .completed: .completed
            case .failed: .failed
            @unknown default: .unknown
            }
        }

        func resume() {
            lock.lock()
            defer { lock.unlock() }
            task?.resume()
        }

        func cancel() {
            lock.lock()
            defer { lock.unlock() }
            task?.cancel()
        }

        /// Forgets the task once its outcome is known.
        func release() {
            lock.lock()
            defer { lock.unlock() }
            task = nil
        }
    }
#endif
