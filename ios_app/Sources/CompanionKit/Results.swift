import Foundation

/// `results.json`: what the companion app (or the reference trainer) reports for one job.
public struct ResultsManifest: Codable, Equatable, Sendable {
    public static let kindName = "mlupdate.results"
    public static let fileName = "results.json"
    public static let sentinelName = "DONE"

    public var schemaVersion: Int
    public var kind: String
    public var jobID: String
    public var producer: Producer
    public var status: RunStatus
    public var error: RunError?
    public var device: DeviceInfo
    public var tasks: [TaskRecord]
    public var model: ResultModel?
    public var parameters: [ParameterArtifact]
    public var probe: ProbeResults?
    public var events: EventsReference
    /// sha256 of every file except `results.json` and `DONE`; the writer fills it in.
    public var files: [String: String]
    /// The updated model loaded and asked for one prediction per compute-unit setting; `nil` when not measured
    /// (optional in the schema: written only when present).
    public var reloads: [ReloadTiming]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion = "schema_version", kind, jobID = "job_id", producer, status, error, device, tasks, model
        case parameters, probe, events, files, reloads
    }

    public init(
        jobID: String, producer: Producer, status: RunStatus, error: RunError?, device: DeviceInfo,
        tasks: [TaskRecord], model: ResultModel?, parameters: [ParameterArtifact], probe: ProbeResults?,
        events: EventsReference, files: [String: String] = [:], reloads: [ReloadTiming]? = nil
    ) {
        schemaVersion = ContractVersion.current
        kind = Self.kindName
        self.jobID = jobID
        self.producer = producer
        self.status = status
        self.error = error
        self.device = device
        self.tasks = tasks
        self.model = model
        self.parameters = parameters
        self.probe = probe
        self.events = events
        self.files = files
        self.reloads = reloads
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        kind = try container.decode(String.self, forKey: .kind)
        jobID = try container.decode(String.self, forKey: .jobID)
        producer = try container.decode(Producer.self, forKey: .producer)
        status = try container.decode(RunStatus.self, forKey: .status)
        error = try container.decode(RunError?.self, forKey: .error)
        device = try container.decode(DeviceInfo.self, forKey: .device)
        tasks = try container.decode([TaskRecord].self, forKey: .tasks)
        model = try container.decode(ResultModel?.self, forKey: .model)
        parameters = try container.decode([ParameterArtifact].self, forKey: .parameters)
        probe = try container.decode(ProbeResults?.self, forKey: .probe)
        events = try container.decode(EventsReference.self, forKey: .events)
        files = try container.decode([String: String].self, forKey: .files)
        reloads = try container.decodeIfPresent([ReloadTiming].self, forKey: .reloads)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(producer, forKey: .producer)
        try container.encode(status, forKey: .status)
        try container.encode(error, forKey: .error)
        try container.encode(device, forKey: .device)
        try container.encode(tasks, forKey: .tasks)
        try container.encode(model, forKey: .model)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(probe, forKey: .probe)
        try container.encode(events, forKey: .events)
        try container.encode(files, forKey: .files)
        try container.encodeIfPresent(reloads, forKey: .reloads)
    }
}

/// One reload of the updated model after the update: load and first prediction with one compute-unit setting.
public struct ReloadTiming: Codable, Equatable, Sendable {
    public var computeUnits: ComputeUnitsName
    public var loadSeconds: Double?
    public var firstPredictionSeconds: Double?
    public var error: RunError?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case computeUnits = "compute_units", loadSeconds = "load_seconds"
        case firstPredictionSeconds = "first_prediction_seconds", error
    }

    public init(
        computeUnits: ComputeUnitsName, loadSeconds: Double? = nil, firstPredictionSeconds: Double? = nil,
        error: RunError? = nil
    ) {
        self.computeUnits = computeUnits
        self.loadSeconds = loadSeconds
        self.firstPredictionSeconds = firstPredictionSeconds
        self.error = error
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        computeUnits = try container.decode(ComputeUnitsName.self, forKey: .computeUnits)
        loadSeconds = try container.decode(Double?.self, forKey: .loadSeconds)
        firstPredictionSeconds = try container.decode(Double?.self, forKey: .firstPredictionSeconds)
        error = try container.decode(RunError?.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(computeUnits, forKey: .computeUnits)
        try container.encode(loadSeconds, forKey: .loadSeconds)
        try container.encode(firstPredictionSeconds, forKey: .firstPredictionSeconds)
        try container.encode(error, forKey: .error)
    }
}

/// `MLTaskState` as the runner last saw it (results.json `tasks[].task_state`).
public enum TaskStateName: String, Codable, Sendable, CaseIterable {
    case suspended, running, cancelling, completed, failed, unknown

    /// Core ML may still be working on a task in this state.
    public var mayStillRun: Bool {
        self == .running || self == .cancelling || self == .suspended
    }
}

/// Who wrote a results bundle. Only the names in the contract are allowed.
public struct Producer: Codable, Equatable, Sendable {
    public enum Name: String, Codable, Sendable, CaseIterable {
        case companionIOS = "companion-ios"
        case companionMacOS = "companion-macos"
        case companionCLI = "companion-cli"
        case reference = "mlupdate-reference"
    }

    public var name: Name
    public var version: String
    /// The reference trainer's knob values; absent for the companion app.
    public var semantics: [String: JSONValue]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, version, semantics
    }

    public init(name: Name, version: String, semantics: [String: JSONValue]? = nil) {
        self.name = name
        self.version = version
        self.semantics = semantics
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(Name.self, forKey: .name)
        version = try container.decode(String.self, forKey: .version)
        semantics = try container.decodeIfPresent([String: JSONValue].self, forKey: .semantics)
    }
}

public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case succeeded, failed, cancelled

    /// The bundle's status from its tasks: any failure wins over any cancellation, which wins over success.
    public static func combined(_ statuses: [RunStatus]) -> RunStatus {
        if statuses.contains(.failed) { return .failed }
        if statuses.contains(.cancelled) { return .cancelled }
        return .succeeded
    }
}

/// Where a run stopped.
public enum RunPhase: String, Codable, Sendable, CaseIterable {
    case load, compile, prepare, train, write, probe, dump
}

/// An error as the device saw it (`NSError` domain and code where there is one).
public struct RunError: Codable, Equatable, Sendable, Error {
    public var phase: RunPhase
    public var domain: String
    public var code: Int
    public var message: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case phase, domain, code, message
    }

    public init(phase: RunPhase, domain: String, code: Int, message: String) {
        self.phase = phase
        self.domain = domain
        self.code = code
        self.message = message
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        phase = try container.decode(RunPhase.self, forKey: .phase)
        domain = try container.decode(String.self, forKey: .domain)
        code = try container.decode(Int.self, forKey: .code)
        message = try container.decode(String.self, forKey: .message)
    }
}

/// The machine the job ran on.
public struct DeviceInfo: Codable, Equatable, Sendable {
    public var name: String
    public var model: String
    public var osName: String
    public var osVersion: String
    public var osBuild: String
    public var isSimulator: Bool
    public var chip: String?
    /// The Mac behind a Simulator (or the reference's host); `nil` on a device.
    public var host: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, model, osName = "os_name", osVersion = "os_version", osBuild = "os_build"
        case isSimulator = "is_simulator", chip, host
    }

    public init(
        name: String, model: String, osName: String, osVersion: String, osBuild: String, isSimulator: Bool,
        chip: String?, host: String?
    ) {
        self.name = name
        self.model = model
        self.osName = osName
        self.osVersion = osVersion
        self.osBuild = osBuild
        self.isSimulator = isSimulator
        self.chip = chip
        self.host = host
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        model = try container.decode(String.self, forKey: .model)
        osName = try container.decode(String.self, forKey: .osName)
        osVersion = try container.decode(String.self, forKey: .osVersion)
        osBuild = try container.decode(String.self, forKey: .osBuild)
        isSimulator = try container.decode(Bool.self, forKey: .isSimulator)
        chip = try container.decode(String?.self, forKey: .chip)
        host = try container.decode(String?.self, forKey: .host)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(model, forKey: .model)
        try container.encode(osName, forKey: .osName)
        try container.encode(osVersion, forKey: .osVersion)
        try container.encode(osBuild, forKey: .osBuild)
        try container.encode(isSimulator, forKey: .isSimulator)
        try container.encode(chip, forKey: .chip)
        try container.encode(host, forKey: .host)
    }
}

/// One update task (one repeat). Timings are `nil` when the phase was not reached.
public struct TaskRecord: Codable, Equatable, Sendable {
    public var index: Int
    public var status: RunStatus
    public var error: RunError?
    public var compileSeconds: Double?
    public var loadSeconds: Double?
    public var trainSeconds: Double?
    public var writeSeconds: Double?
    public var probeSeconds: Double?
    public var memoryBeforeBytes: Int?
    public var memoryAfterBytes: Int?
    public var epochsCompleted: Int
    public var finalLoss: Double?
    /// `MLTask.state` when the runner stopped waiting for the task (optional in the schema).
    public var taskState: TaskStateName?
    /// An earlier task may still have been running during this one: its timings and memory are not its own.
    /// Written only when true.
    public var contaminated = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case index, status, error, compileSeconds = "compile_seconds", loadSeconds = "load_seconds"
        case trainSeconds = "train_seconds", writeSeconds = "write_seconds", probeSeconds = "probe_seconds"
        case memoryBeforeBytes = "memory_before_bytes", memoryAfterBytes = "memory_after_bytes"
        case epochsCompleted = "epochs_completed", finalLoss = "final_loss"
        case taskState = "task_state", contaminated
    }

    public init(index: Int, status: RunStatus = .succeeded, error: RunError? = nil) {
        self.index = index
        self.status = status
        self.error = error
        epochsCompleted = 0
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        index = try container.decode(Int.self, forKey: .index)
        status = try container.decode(RunStatus.self, forKey: .status)
        error = try container.decode(RunError?.self, forKey: .error)
        compileSeconds = try container.decode(Double?.self, forKey: .compileSeconds)
        loadSeconds = try container.decode(Double?.self, forKey: .loadSeconds)
        trainSeconds = try container.decode(Double?.self, forKey: .trainSeconds)
        writeSeconds = try container.decode(Double?.self, forKey: .writeSeconds)
        probeSeconds = try container.decode(Double?.self, forKey: .probeSeconds)
        memoryBeforeBytes = try container.decode(Int?.self, forKey: .memoryBeforeBytes)
        memoryAfterBytes = try container.decode(Int?.self, forKey: .memoryAfterBytes)
        epochsCompleted = try container.decode(Int.self, forKey: .epochsCompleted)
        finalLoss = try container.decode(Double?.self, forKey: .finalLoss)
        taskState = try container.decodeIfPresent(TaskStateName.self, forKey: .taskState)
        contaminated = try container.decodeIfPresent(Bool.self, forKey: .contaminated) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(status, forKey: .status)
        try container.encode(error, forKey: .error)
        try container.encode(compileSeconds, forKey: .compileSeconds)
        try container.encode(loadSeconds, forKey: .loadSeconds)
        try container.encode(trainSeconds, forKey: .trainSeconds)
        try container.encode(writeSeconds, forKey: .writeSeconds)
        try container.encode(probeSeconds, forKey: .probeSeconds)
        try container.encode(memoryBeforeBytes, forKey: .memoryBeforeBytes)
        try container.encode(memoryAfterBytes, forKey: .memoryAfterBytes)
        try container.encode(epochsCompleted, forKey: .epochsCompleted)
        try container.encode(finiteOrNil(finalLoss), forKey: .finalLoss)
        try container.encodeIfPresent(taskState, forKey: .taskState)
        if contaminated { try container.encode(true, forKey: .contaminated) }
    }
}

/// JSON has no NaN or Infinity: the contract writes a non-finite number as `null`.
func finiteOrNil(_ value: Double?) -> Double? {
    guard let value, value.isFinite else { return nil }
    return value
}

/// The updated model inside the results bundle.
public struct ResultModel: Codable, Equatable, Sendable {
    public var path: String
    public var format: ModelFormat

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, format
    }

    public init(path: String, format: ModelFormat) {
        self.path = path
        self.format = format
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        format = try container.decode(ModelFormat.self, forKey: .format)
    }
}

/// One dumped parameter tensor (`parameterValue(for: .weights.scoped(to:))`).
public struct ParameterArtifact: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case weights, biases
    }

    /// Which read produced the tensor: `context.model` in the completion handler (the primary dump) or the
    /// written model loaded again (the cross-check). Optional in the schema: the app always writes it.
    public enum Source: String, Codable, Sendable, CaseIterable {
        case context, reloaded
    }

    public var layer: String
    public var scope: String
    public var kind: Kind
    public var path: String
    public var shape: [Int]
    public var source: Source?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case layer, scope, kind, path, shape, source
    }

    public init(layer: String, scope: String, kind: Kind, shape: [Int], source: Source? = nil) {
        self.layer = layer
        self.scope = scope
        self.kind = kind
        self.shape = shape
        self.source = source
        let folder = source == .reloaded ? "parameters/reloaded" : "parameters"
        path = "\(folder)/\(Self.scopedName(layer: layer, scope: scope)).\(kind.rawValue).npy"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layer = try container.decode(String.self, forKey: .layer)
        scope = try container.decode(String.self, forKey: .scope)
        kind = try container.decode(Kind.self, forKey: .kind)
        path = try container.decode(String.self, forKey: .path)
        shape = try container.decode([Int].self, forKey: .shape)
        source = try container.decodeIfPresent(Source.self, forKey: .source)
    }

    /// The layer name as `MLParameterKey.scoped(to:)` spells it: `dense_1`, or `model1.dense_1` in a pipeline.
    public static func scopedName(layer: String, scope: String) -> String {
        scope.isEmpty ? layer : "\(scope).\(layer)"
    }
}

/// Predictions for the probe set.
public struct ProbeResults: Codable, Equatable, Sendable {
    public var count: Int
    public var outputs: [ProbeOutput]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case count, outputs
    }

    public init(count: Int, outputs: [ProbeOutput]) {
        self.count = count
        self.outputs = outputs
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        count = try container.decode(Int.self, forKey: .count)
        outputs = try container.decode([ProbeOutput].self, forKey: .outputs)
    }
}

/// One model output over the probe set.
public struct ProbeOutput: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case multiArray, dictionary, string, int64
    }

    public var name: String
    public var type: Kind
    public var path: String
    /// Dictionary outputs only: the class of each column of the `[M, C]` array.
    public var classes: [ClassLabel]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, type, path, classes
    }

    public init(name: String, type: Kind, path: String, classes: [ClassLabel]? = nil) {
        self.name = name
        self.type = type
        self.path = path
        self.classes = classes
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        type = try container.decode(Kind.self, forKey: .type)
        path = try container.decode(String.self, forKey: .path)
        classes = try container.decodeIfPresent([ClassLabel].self, forKey: .classes)
    }
}

/// Where the event log is and how many lines it has.
public struct EventsReference: Codable, Equatable, Sendable {
    public var path: String
    public var count: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, count
    }

    public init(path: String = EventLog.fileName, count: Int) {
        self.path = path
        self.count = count
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        count = try container.decode(Int.self, forKey: .count)
    }
}

/// A class label of a classifier: a string or an integer, as the model declares.
public enum ClassLabel: Codable, Hashable, Sendable {
    case string(String)
    case int64(Int64)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) {
            self = .int64(value)
        } else {
            self = try .string(container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .string(value): try container.encode(value)
        case let .int64(value): try container.encode(value)
        }
    }
}
