// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLModel.compileModel(at:) async throws -> URL` (iOS 16 / macOS 13; the synchronous variant is deprecated)
// - `MLModel.init(contentsOf:configuration:)` (iOS 12 / macOS 10.14)
// - `MLModelDescription.trainingInputDescriptionsByName` (iOS 13 / macOS 10.15), `.inputDescriptionsByName`
//   (iOS 11 / macOS 10.13)
// - `os.Logger.init(subsystem:category:)` (iOS 14 / macOS 11)
// - `FileManager.temporaryDirectory` (iOS 10 / macOS 10.12), `removeItem(at:)` (iOS 2 / macOS 10.5),
//   `contentsOfDirectory(atPath:)` (iOS 2 / macOS 10.5)
// - `MLModel.prediction(from:)` (iOS 11 / macOS 10.13), `MLBatchProvider.features(at:)` (iOS 12 / macOS 10.14)
// - `autoreleasepool(invoking:)` (ObjectiveC, every OS): releases the short-lived models promptly
// - `Task.sleep(for:)` (iOS 16 / macOS 13)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation
    import ObjectiveC
    import os

    /// Where a run is, for the app's progress display.
    public struct RunnerUpdate: Sendable {
        public enum Stage: String, Sendable {
            case compiling, loading, preparing, training, reloading, dumping, probing, publishing
        }

        public let task: Int
        public let taskCount: Int
        public let stage: Stage
        /// The progress event just logged, during `training`.
        public let event: ProgressEvent?
    }

    /// Runs a job bundle with Core ML: for each repeat, compile (or use the shipped `.mlmodelc`), build the
    /// training batch, create and run one `MLUpdateTask`. The first task dumps the updated layers from
    /// `context.model` in its completion handler and writes the model; then the written model is loaded once per
    /// compute-unit setting (load and first prediction timed), loaded again to dump the layers a second time (the
    /// cross-check) and to predict the probe set. A repeat never overlaps a task Core ML may still be running
    /// unnoticed: the runner waits for it, and marks the repeat contaminated if it does not settle. Timings and the
    /// memory footprint are recorded per task, and the results bundle is published atomically in `outbox`.
    public struct CoreMLJobRunner: Sendable {
        public let producer: Producer.Name
        private let logger = Logger(subsystem: "org.mlupdate.companion", category: "runner")

        public init(producer: Producer.Name) {
            self.producer = producer
        }

        /// Runs every repeat of `job` and returns the published results bundle's folder. Training failures are
        /// results (status `failed`); only a failure to publish the bundle throws.
        public func run(
            _ job: JobBundle, outbox: URL, onUpdate: @escaping @Sendable (RunnerUpdate) -> Void
        ) async throws -> URL {
            let manifest = job.manifest
            // Refuse before training rather than after: the writer never replaces an existing results bundle.
            let destination = outbox.appendingPathComponent(manifest.jobID)
            guard BundlePath.entry(at: destination) == .missing else {
                throw CompanionError.outboxOccupied(path: destination.path)
            }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent(
                "companion-work-\(UUID().uuidString)")
            let log = liveEventLog(outbox: outbox, jobID: manifest.jobID)
            var tasks: [TaskRecord] = []
            var first = FirstTaskArtifacts()
            var unsettled: [TaskHandle] = []
            for index in 0..<manifest.repeatCount {
                unsettled = await Self.settle(unsettled)
                var (record, artifacts, leftover) = await runTask(
                    index, of: job, log: log, work: work, onUpdate: onUpdate)
                record.contaminated = !unsettled.isEmpty
                if let leftover { unsettled.append(leftover) }
                tasks.append(record)
                if index == 0 { first = artifacts }
            }
            onUpdate(
                RunnerUpdate(
                    task: manifest.repeatCount - 1, taskCount: manifest.repeatCount, stage: .publishing,
                    event: nil))
            defer { removeQuietly(work) }
            // The writer replaces the partial folder the live copy is in; the bundle's log is written from memory.
            log.stopMirroring()
            let producer = producer
            return try ResultsWriter.write(outbox: outbox, jobID: manifest.jobID) { staging in
                try staging.write(log.jsonLines(), to: EventLog.fileName)
                var model: ResultModel?
                if let written = first.model {
                    let path = "model/\(manifest.model.name).mlmodelc"
                    try staging.copyItem(at: written, to: path)
                    model = ResultModel(path: path, format: .mlmodelc)
                }
                for file in first.files {
                    try staging.write(file.data, to: file.path)
                }
                return ResultsManifest(
                    jobID: manifest.jobID,
                    producer: Producer(name: producer, version: CompanionVersion.current),
                    status: RunStatus.combined(tasks.map(\.status)),
                    error: tasks.first { $0.status == .failed }?.error,
                    device: DeviceDescription.current(),
                    tasks: tasks,
                    model: model,
                    parameters: first.parameters,
                    probe: first.probe,
                    events: EventsReference(count: log.snapshot.count),
                    reloads: first.reloads.isEmpty ? nil : first.reloads
                )
            }
        }

        /// How long a repeat waits for an earlier task that Core ML may still be running.
        static let settleSeconds = 30.0

        /// The tasks that are still running after waiting up to `settleSeconds` for them to finish.
        private static func settle(_ handles: [TaskHandle]) async -> [TaskHandle] {
            guard !handles.isEmpty else { return [] }
            let deadline = Deadline(seconds: settleSeconds)
            var running = handles
            while true {
                running = running.filter { handle in
                    let busy = handle.stateName?.mayStillRun == true
                    if !busy { handle.release() }
                    return busy
                }
                if running.isEmpty || deadline.hasPassed { return running }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }

        /// The run's event log, mirrored line by line to `outbox/.<job_id>.partial/events.jsonl` so the host can
        /// show progress (and the last events when a run stalls) before the bundle is published.
        private func liveEventLog(outbox: URL, jobID: String) -> EventLog {
            let file = ResultsWriter.stagingURL(outbox: outbox, jobID: jobID).appendingPathComponent(EventLog.fileName)
            do {
                return try EventLog(mirroringTo: file)
            } catch {
                logger.warning("no live events for \(jobID, privacy: .public): \(error.description, privacy: .public)")
                return EventLog()
            }
        }

        /// One repeat. Never throws: a failure becomes the task's status and error. Returns the task's handle when
        /// Core ML may still be running it.
        private func runTask(
            _ index: Int, of job: JobBundle, log: EventLog, work: URL,
            onUpdate: @escaping @Sendable (RunnerUpdate) -> Void
        ) async -> (TaskRecord, FirstTaskArtifacts, TaskHandle?) {
            let manifest = job.manifest
            let count = manifest.repeatCount
            func stage(_ stage: RunnerUpdate.Stage) {
                onUpdate(RunnerUpdate(task: index, taskCount: count, stage: stage, event: nil))
            }
            var record = TaskRecord(index: index)
            var artifacts = FirstTaskArtifacts()
            var compiledCopy: URL?
            var leftover: TaskHandle?
            record.memoryBeforeBytes = physicalFootprintBytes()
            do {
                let configuration = ModelConfiguration.make(for: manifest)
                let compiled: URL
                switch manifest.model.format {
                case .mlmodel:
                    stage(.compiling)
                    let stopwatch = Stopwatch()
                    do {
                        compiled = try await MLModel.compileModel(at: job.modelURL)
                    } catch {
                        throw RunFailure(.compile, error)
                    }
                    compiledCopy = compiled
                    record.compileSeconds = stopwatch.elapsedSeconds
                case .mlmodelc:
                    compiled = job.modelURL
                }
                stage(.preparing)
                let training = try inPhase(.prepare) {
                    try autoreleasepool {
                        // A short-lived load, only for the training inputs' image constraints: it is released
                        // before the update task loads the model it trains, so no second copy stays in memory.
                        let described = try MLModel(contentsOf: compiled, configuration: ModelConfiguration.describing())
                        return try FeatureProviders.batch(
                            for: manifest.training, in: job,
                            descriptions: described.modelDescription.trainingInputDescriptionsByName)
                    }
                }
                stage(.training)
                let runner = UpdateTaskRunner(
                    taskIndex: index, events: manifest.events, deadlineSeconds: manifest.deadlineSeconds,
                    modelDestination: index == 0
                        ? work.appendingPathComponent("model/\(manifest.model.name).mlmodelc") : nil,
                    dumpLayers: index == 0 ? DumpRequest(job: manifest) : nil,
                    log: log, logger: logger,
                    onEvent: { onUpdate(RunnerUpdate(task: index, taskCount: count, stage: .training, event: $0)) },
                    schedule: manifest.schedule
                )
                let (outcome, loadSeconds, stillRunning) = try await runner.run(
                    compiledModel: compiled, trainingData: training, configuration: configuration)
                leftover = stillRunning
                record.loadSeconds = loadSeconds
                record.status = outcome.status
                record.error = outcome.error
                record.trainSeconds = outcome.trainSeconds
                record.writeSeconds = outcome.writeSeconds
                record.finalLoss = outcome.completionLoss
                record.epochsCompleted = max(outcome.epochsEnded, outcome.completionEpochs ?? 0)
                record.taskState = outcome.taskState
                // The footprint once the task is released, before the first task's reloads and dumps.
                record.memoryAfterBytes = physicalFootprintBytes()
                if index == 0, outcome.status == .succeeded, let written = outcome.writtenModel {
                    artifacts.model = written
                    artifacts.reloads = timeReloads(of: written, job: job, stage: stage)
                    try collectArtifacts(
                        from: written, contextDump: outcome.contextDump, job: job, configuration: configuration,
                        record: &record, into: &artifacts, stage: stage)
                }
            } catch let failure as RunFailure {
                record.status = .failed
                record.error = failure.error
            } catch {
                record.status = .failed
                record.error = RunFailure(.prepare, error).error
            }
            if let compiledCopy { removeCompiled(compiledCopy) }
            if record.memoryAfterBytes == nil { record.memoryAfterBytes = physicalFootprintBytes() }
            logger.info(
                "task \(index) of \(manifest.jobID, privacy: .public): \(record.status.rawValue, privacy: .public)")
            return (record, artifacts, leftover)
        }

        /// The written model loaded with each compute-unit setting of `ReloadTiming.computeUnits`, and its first
        /// prediction (a probe example, else a training example), each timed on its own. Users report reloads of an
        /// updated model taking seconds on the Neural Engine path.
        private func timeReloads(
            of written: URL, job: JobBundle, stage: (RunnerUpdate.Stage) -> Void
        ) -> [ReloadTiming] {
            stage(.reloading)
            let examples = job.manifest.probe ?? job.manifest.training
            var input: (any MLFeatureProvider)?
            return Self.reloadComputeUnits.map { units in
                autoreleasepool {
                    var timing = ReloadTiming(computeUnits: units)
                    let configuration = ModelConfiguration.make(for: job.manifest, computeUnits: units)
                    do {
                        let loaded = try inPhase(.load) {
                            try timed { try MLModel(contentsOf: written, configuration: configuration) }
                        }
                        timing.loadSeconds = loaded.seconds
                        if input == nil {
                            input = try inPhase(.probe) {
                                try FeatureProviders.batch(
                                    for: examples, in: job,
                                    descriptions: loaded.value.modelDescription.inputDescriptionsByName
                                ).features(at: 0)
                            }
                        }
                        if let input {
                            let predicted = try inPhase(.probe) { try timed { try loaded.value.prediction(from: input) } }
                            timing.firstPredictionSeconds = predicted.seconds
                        }
                    } catch {
                        timing.error = error.runError
                    }
                    return timing
                }
            }
        }

        /// The settings the updated model is reloaded with after the update (the contract's RELOAD_COMPUTE_UNITS).
        static let reloadComputeUnits: [ComputeUnitsName] = [.cpuOnly, .cpuAndGPU, .all]

        /// Loads the written model again: dumps the updatable layers a second time (the cross-check of the context
        /// dump) and predicts the probe set.
        private func collectArtifacts(
            from written: URL, contextDump: [DumpedTensor], job: JobBundle, configuration: MLModelConfiguration,
            record: inout TaskRecord, into artifacts: inout FirstTaskArtifacts, stage: (RunnerUpdate.Stage) -> Void
        ) throws(RunFailure) {
            stage(.dumping)
            let reloaded = try inPhase(.dump) { try MLModel(contentsOf: written, configuration: configuration) }
            let reloadedDump = try inPhase(.dump) {
                try ParameterDump.read(reloaded, request: DumpRequest(job: job.manifest))
            }
            for (dump, source) in [(contextDump, ParameterArtifact.Source.context), (reloadedDump, .reloaded)]
            where !dump.isEmpty {
                let encoded = try inPhase(.dump) { try ParameterDump.artifacts(dump, source: source) }
                artifacts.parameters += encoded.entries
                artifacts.files += encoded.files
            }
            if !contextDump.isEmpty {
                let difference = ParameterDump.largestDifference(contextDump, reloadedDump)
                logger.info(
                    "context dump vs reloaded dump: largest difference \(difference.map { String($0) } ?? "n/a", privacy: .public)")
            }
            guard let probe = job.manifest.probe else { return }
            stage(.probing)
            let stopwatch = Stopwatch()
            let predicted = try inPhase(.probe) {
                let batch = try FeatureProviders.batch(
                    for: probe, in: job, descriptions: reloaded.modelDescription.inputDescriptionsByName
                )
                return try ProbeRun.predict(reloaded, batch: batch)
            }
            record.probeSeconds = stopwatch.elapsedSeconds
            artifacts.probe = predicted.0
            artifacts.files += predicted.1
        }

        /// Removes a model `compileModel(at:)` left in a temporary folder, and that folder if nothing else is in it.
        private func removeCompiled(_ compiled: URL) {
            removeQuietly(compiled)
            let parent = compiled.deletingLastPathComponent()
            let temporary = FileManager.default.temporaryDirectory.standardizedFileURL.path
            guard parent.standardizedFileURL.path != temporary,
                parent.standardizedFileURL.path.hasPrefix(temporary),
                (try? FileManager.default.contentsOfDirectory(atPath: parent.path))?.isEmpty == true
            else { return }
            removeQuietly(parent)
        }

        private func removeQuietly(_ url: URL) {
            do {
                if FileManager.default.fileExists(atPath: url.path) {
                    try FileManager.default.removeItem(at: url)
                }
            } catch {
                logger.warning(
                    "could not remove \(url.path, privacy: .public): \(error.localizedDescription, privacy: .public)")
            }
        }
    }

    /// What the first task leaves for the results bundle.
    struct FirstTaskArtifacts {
        var model: URL?
        var parameters: [ParameterArtifact] = []
        var probe: ProbeResults?
        var files: [ArtifactFile] = []
        var reloads: [ReloadTiming] = []
    }
#endif

#if canImport(CoreML)
    extension CoreMLJobRunner {
        /// Publishes a `failed` results bundle for a job that could not be read, so the host gets an answer
        /// (naming the refusal) instead of waiting for its deadline.
        public func publishRefusal(jobID: String, error: CompanionError, outbox: URL) throws -> URL {
            let failure = RunFailure(.load, error).error
            var task = TaskRecord(index: 0, status: .failed, error: failure)
            task.memoryBeforeBytes = physicalFootprintBytes()
            task.memoryAfterBytes = task.memoryBeforeBytes
            let producer = producer
            return try ResultsWriter.write(outbox: outbox, jobID: jobID) { staging in
                try staging.write(Data(), to: EventLog.fileName)
                return ResultsManifest(
                    jobID: jobID, producer: Producer(name: producer, version: CompanionVersion.current),
                    status: .failed,
                    error: failure, device: DeviceDescription.current(), tasks: [task], model: nil, parameters: [],
                    probe: nil, events: EventsReference(count: 0)
                )
            }
        }
    }
#endif
