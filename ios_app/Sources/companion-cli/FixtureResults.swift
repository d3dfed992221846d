import CompanionKit
import Foundation

/// Builds a well-formed results bundle for a job without Core ML, for the contract tests: the events follow
/// the job's epochs, mini-batches and requested handlers, the "predictions" are the prior predictor (the most
/// frequent training label, the class frequencies, the mean regression target), and the parameters are
/// deterministic synthetic tensors. The producer is `companion-cli`, so nobody mistakes it for a training run.
struct FixtureResults {
    let job: JobBundle
    let status: RunStatus

    private var manifest: JobManifest { job.manifest }

    func write(to staging: ResultsStaging) throws -> ResultsManifest {
        let log = EventLog()
        let tasks = (0..<manifest.repeatCount).map { index in runTask(index, log: log) }
        try staging.write(log.jsonLines(), to: EventLog.fileName)
        let succeeded = status == .succeeded
        let parameters = succeeded ? try writeParameters(to: staging) : []
        let probe = succeeded ? try writeProbe(to: staging) : nil
        return ResultsManifest(
            jobID: manifest.jobID,
            producer: Producer(name: .companionCLI, version: CompanionVersion.current),
            status: RunStatus.combined(tasks.map(\.status)),
            error: tasks.compactMap(\.error).first,
            device: Self.thisMachine(),
            tasks: tasks,
            model: nil,
            parameters: parameters,
            probe: probe,
            events: EventsReference(count: log.snapshot.count)
        )
    }

    // MARK: - Events and tasks

    private var epochs: Int {
        if case let .int(value)? = manifest.parameters[ParameterName.epochs.rawValue] { return value }
        return 1
    }

    private var batchesPerEpoch: Int {
        let count = manifest.training.count
        if case let .int(size)? = manifest.parameters[ParameterName.miniBatchSize.rawValue] {
            return (count + size - 1) / size
        }
        return 1
    }

    /// One synthetic task: the epochs run until the end, or half of them for a failed or cancelled task.
    private func runTask(_ index: Int, log: EventLog) -> TaskRecord {
        let clock = Stopwatch()
        let wanted = Set(manifest.events)
        let epochsRun = status == .succeeded ? epochs : epochs / 2
        if wanted.contains(.trainingBegin) {
            log.append(
                ProgressEvent(
                    task: index, event: .trainingBegin, epoch: nil, miniBatch: nil, loss: nil,
                    t: clock.elapsedSeconds))
        }
        var loss: Double?
        for epoch in 0..<epochsRun {
            for batch in 0..<batchesPerEpoch {
                loss = Self.syntheticLoss(step: epoch * batchesPerEpoch + batch)
                if wanted.contains(.miniBatchEnd) {
                    log.append(
                        ProgressEvent(
                            task: index, event: .miniBatchEnd, epoch: epoch, miniBatch: batch,
                            loss: loss, t: clock.elapsedSeconds))
                }
            }
            if wanted.contains(.epochEnd) {
                log.append(
                    ProgressEvent(
                        task: index, event: .epochEnd, epoch: epoch, miniBatch: nil, loss: loss,
                        t: clock.elapsedSeconds))
            }
        }
        var record = TaskRecord(index: index, status: status, error: taskError)
        record.epochsCompleted = epochsRun
        record.finalLoss = loss
        if status == .succeeded {
            log.append(
                ProgressEvent(
                    task: index, event: .completion, epoch: nil, miniBatch: nil, loss: loss,
                    t: clock.elapsedSeconds))
        }
        return record
    }

    private var taskError: RunError? {
        switch status {
        case .succeeded: nil
        case .failed:
            RunError(
                phase: .train, domain: "companion-cli", code: 1,
                message: "synthetic failure requested with --status failed")
        case .cancelled:
            RunError(
                phase: .train, domain: "companion-cli", code: 2,
                message: "synthetic cancellation requested with --status cancelled")
        }
    }

    private static func syntheticLoss(step: Int) -> Double {
        2.0 / (1.0 + 0.25 * Double(step))
    }

    // MARK: - Parameters

    private func writeParameters(to staging: ResultsStaging) throws -> [ParameterArtifact] {
        var artifacts: [ParameterArtifact] = []
        for (layerIndex, layer) in manifest.model.updatableLayers.enumerated() {
            let outputs = 2 + layerIndex
            for (kind, shape) in [(ParameterArtifact.Kind.weights, [outputs, 3]), (.biases, [outputs])] {
                let artifact = ParameterArtifact(
                    layer: layer, scope: manifest.model.updateScope, kind: kind, shape: shape)
                let count = shape.reduce(1, *)
                let values = (0..<count).map { Float(layerIndex * 100 + $0) / 100 }
                try staging.write(NpyArray(shape: shape, storage: .float32(values)), to: artifact.path)
                artifacts.append(artifact)
            }
        }
        return artifacts
    }

    // MARK: - Probe: the prior predictor

    /// Predictions for every training feature the probe set lacks (the targets): labels get the most frequent
    /// training label and the class frequencies, regression targets their training mean.
    private func writeProbe(to staging: ResultsStaging) throws -> ProbeResults? {
        guard let probe = manifest.probe else { return nil }
        let inputs = Set(probe.features.map(\.name))
        var outputs: [ProbeOutput] = []
        for target in manifest.training.features where !inputs.contains(target.name) {
            switch target.kind {
            case .string:
                let labels = try job.labels(target.path, as: String.self)
                outputs += try writeClassifier(
                    target.name, labels: labels, count: probe.count, staging: staging,
                    type: .string, classValue: ClassLabel.string)
            case .int64:
                let labels = try job.labels(target.path, as: Int64.self)
                outputs += try writeClassifier(
                    target.name, labels: labels, count: probe.count, staging: staging,
                    type: .int64, classValue: ClassLabel.int64)
            case let .multiArray(_, shape):
                let values = try NpyArray.read(from: job.url(for: target.path), displayPath: target.path).doubles
                outputs.append(
                    try writeMean(
                        target.name, values: values, shape: shape, count: probe.count,
                        staging: staging))
            case .image:
                continue
            }
        }
        return ProbeResults(count: probe.count, outputs: outputs)
    }

    private func writeClassifier<Label: Hashable & Comparable & Encodable>(
        _ name: String, labels: [Label], count: Int, staging: ResultsStaging, type: ProbeOutput.Kind,
        classValue: (Label) -> ClassLabel
    ) throws -> [ProbeOutput] {
        let classes = Array(Set(labels)).sorted()
        let frequencies = classes.map { label in Float(labels.filter { $0 == label }.count) / Float(labels.count) }
        let best = zip(classes, frequencies).max { $0.1 < $1.1 }.map(\.0) ?? classes[0]
        let labelPath = "probe/\(name).json"
        let probabilityName = "\(name)Probability"
        let probabilityPath = "probe/\(probabilityName).npy"
        try staging.writeJSON(Array(repeating: best, count: count), to: labelPath)
        let rows = Array((0..<count).map { _ in frequencies }.joined())
        try staging.write(NpyArray(shape: [count, classes.count], storage: .float32(rows)), to: probabilityPath)
        return [
            ProbeOutput(name: name, type: type, path: labelPath),
            ProbeOutput(
                name: probabilityName, type: .dictionary, path: probabilityPath, classes: classes.map(classValue)),
        ]
    }

    private func writeMean(
        _ name: String, values: [Double], shape: [Int], count: Int, staging: ResultsStaging
    ) throws -> ProbeOutput {
        let width = shape.reduce(1, *)
        let examples = values.count / width
        let mean = (0..<width).map { column in
            Float(stride(from: column, to: values.count, by: width).map { values[$0] }.reduce(0, +) / Double(examples))
        }
        let path = "probe/\(name).npy"
        let rows = Array((0..<count).map { _ in mean }.joined())
        try staging.write(NpyArray(shape: [count] + shape, storage: .float32(rows)), to: path)
        return ProbeOutput(name: name, type: .multiArray, path: path)
    }

    // MARK: - Machine

    static func thisMachine() -> DeviceInfo {
        let info = ProcessInfo.processInfo
        #if os(Linux)
            let osName = "Linux"
        #elseif os(macOS)
            let osName = "macOS"
        #else
            let osName = "unknown"
        #endif
        #if arch(x86_64)
            let machine = "x86_64"
        #elseif arch(arm64)
            let machine = "arm64"
        #else
            let machine = "unknown"
        #endif
        return DeviceInfo(
            name: "companion-cli (synthetic fixture, no Core ML)", model: machine, osName: osName,
            osVersion: info.operatingSystemVersionString, osBuild: "", isSimulator: false, chip: nil,
            host: info.hostName
        )
    }
}
