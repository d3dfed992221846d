// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLModel.compileModel(at:) async throws -> URL` (iOS 16 / macOS 13; the synchronous variant is deprecated)
// - `MLModel.init(contentsOf:configuration:)` (iOS 12 / macOS 10.14)
// - `MLModelDescription.trainingInputDescriptionsByName` (iOS 13 / macOS 10.15), `.inputDescriptionsByName`
//   (iOS 11 / macOS 10.13)
// - `os.Logger.init(subsystem:category:)` (iOS 14 / macOS 11)
// - `FileManager.temporaryDirectory` (iOS 10 / macOS 10.12), `removeItem(at:)` (iOS 2 / macOS 10.5)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation
    import os

    /// Where a run is, for the app's progress display.
    public struct RunnerUpdate: Sendable {
        public enum Stage: String, Sendable {
            case compiling, loading, preparing, training, dumping, probing, publishing
        }

        public let task: Int
        public let taskCount: Int
        public let stage: Stage
        /// The progress event just logged, during `training`.
        public let event: ProgressEvent?
    }

    /// Runs a job bundle with Core ML: for each repeat, compile (or use the shipped `.mlmodelc`), load, build the
    /// training batch, run one `MLUpdateTask`; after the first task write the updated model, reload it, dump the
    /// updatable layers and predict the probe set. Timings and the memory footprint are recorded per task, and
    /// the results bundle is published atomically in `outbox` (DONE last).
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
            for index in 0..<manifest.repeatCount {
                let (record, artifacts) = await runTask(index, of: job, log: log, work: work, onUpdate: onUpdate)
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
                    events: EventsReference(count: log.snapshot.count)
                )
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

        /// One repeat. Never throws: a failure becomes the task's status and error.
        private func runTask(
            _ index: Int, of job: JobBundle, log: EventLog, work: URL,
            onUpdate: @escaping @Sendable (RunnerUpdate) -> Void
        ) async -> (TaskRecord, FirstTaskArtifacts) {
            let manifest = job.manifest
            let count = manifest.repeatCount
            func stage(_ stage: RunnerUpdate.Stage) {
                onUpdate(RunnerUpdate(task: index, taskCount: count, stage: stage, event: nil))
            }
            var record = TaskRecord(index: index)
            var artifacts = FirstTaskArtifacts()
            var compiledCopy: URL?
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
                stage(.loading)
                let loaded = try inPhase(.load) {
                    try timed { try MLModel(contentsOf: compiled, configuration: configuration) }
                }
                record.loadSeconds = loaded.seconds
                stage(.preparing)
                let training = try inPhase(.prepare) {
                    try FeatureProviders.batch(
                        for: manifest.training, in: job,
                        descriptions: loaded.value.modelDescription.trainingInputDescriptionsByName
                    )
                }
                stage(.training)
                let runner = UpdateTaskRunner(
                    taskIndex: index, events: manifest.events, deadlineSeconds: manifest.deadlineSeconds,
                    modelDestination: index == 0
                        ? work.appendingPathComponent("model/\(manifest.model.name).mlmodelc") : nil,
                    log: log, logger: logger,
                    onEvent: { onUpdate(RunnerUpdate(task: index, taskCount: count, stage: .training, event: $0)) }
                )
                let outcome = try await runner.run(
                    compiledModel: compiled, trainingData: training,
                    configuration: configuration)
                record.status = outcome.status
                record.error = outcome.error
                record.trainSeconds = outcome.trainSeconds
                record.writeSeconds = outcome.writeSeconds
                record.finalLoss = outcome.completionLoss
                record.epochsCompleted = max(outcome.epochsEnded, outcome.completionEpochs ?? 0)
                if index == 0, outcome.status == .succeeded, let written = outcome.writtenModel {
                    artifacts.model = written
                    try collectArtifacts(
                        from: written, job: job, configuration: configuration, record: &record,
                        into: &artifacts, stage: stage)
                }
            } catch let failure as RunFailure {
                record.status = .failed
                record.error = failure.error
            } catch {
                record.status = .failed
                record.error = RunFailure(.prepare, error).error
            }
            if let compiledCopy { removeQuietly(compiledCopy) }
            record.memoryAfterBytes = physicalFootprintBytes()
            logger.info(
                "task \(index) of \(manifest.jobID, privacy: .public): \(record.status.rawValue, privacy: .public)")
            return (record, artifacts)
        }

        /// Reloads the written model, dumps the updatable layers and predicts the probe set.
        private func collectArtifacts(
            from written: URL, job: JobBundle, configuration: MLModelConfiguration, record: inout TaskRecord,
            into artifacts: inout FirstTaskArtifacts, stage: (RunnerUpdate.Stage) -> Void
        ) throws(RunFailure) {
            stage(.dumping)
            let reloaded = try inPhase(.dump) { try MLModel(contentsOf: written, configuration: configuration) }
            let dump = try inPhase(.dump) { try ParameterDump.dump(reloaded, job: job.manifest) }
            artifacts.parameters = dump.entries
            artifacts.files += dump.files
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
