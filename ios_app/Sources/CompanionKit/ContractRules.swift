import Foundation

/// The rules of the contract's JSON schemas (`python/mlupdate/bundle/schemas/`) that decoding alone does not
/// enforce: non-empty strings, non-negative counts and timings, and fields that may be absent but never `null`.
/// The Python reader checks them with the schemas; the shared corpus (`tests/contract/test_fuzz_corpus.py`)
/// sweeps every field of every golden bundle through both readers, so a rule added to one side and not the other
/// fails there.
enum ContractRules {
    static func check(_ job: JobManifest) throws(CompanionError) {
        let file = JobManifest.fileName
        try nonEmpty(job.createdBy, "created_by", file)
        try nonEmpty(job.model.kind, "model.kind", file)
        for (set, field) in [(job.training, "training"), (job.probe, "probe")] {
            for (index, feature) in (set?.features ?? []).enumerated() {
                try nonEmpty(feature.name, "\(field).features[\(index)].name", file)
                try nonEmpty(feature.path, "\(field).features[\(index)].path", file)
            }
        }
    }

    static func check(_ results: ResultsManifest, raw: Data) throws(CompanionError) {
        let file = ResultsManifest.fileName
        // The schema's pattern and const: a manifest that breaks them is refused as a manifest, before its job id
        // is compared with the expected one or its events path is looked up.
        guard JobID.isValid(results.jobID) else {
            throw .invalidManifest(
                file: file, field: "job_id",
                reason: "'\(results.jobID)' does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
        }
        guard results.events.path == EventLog.fileName else {
            throw .invalidManifest(
                file: file, field: "events.path",
                reason: "is '\(results.events.path)', expected '\(EventLog.fileName)'")
        }
        try nonEmpty(results.producer.version, "producer.version", file)
        for (index, task) in results.tasks.enumerated() {
            let field = "tasks[\(index)]"
            try atLeastZero(task.index, "\(field).index", file)
            try atLeastZero(task.epochsCompleted, "\(field).epochs_completed", file)
            for (name, value) in [
                ("compile_seconds", task.compileSeconds), ("load_seconds", task.loadSeconds),
                ("train_seconds", task.trainSeconds), ("write_seconds", task.writeSeconds),
                ("probe_seconds", task.probeSeconds),
            ] {
                try atLeastZero(value, "\(field).\(name)", file)
            }
            try atLeastZero(task.memoryBeforeBytes, "\(field).memory_before_bytes", file)
            try atLeastZero(task.memoryAfterBytes, "\(field).memory_after_bytes", file)
        }
        for (index, reload) in (results.reloads ?? []).enumerated() {
            try atLeastZero(reload.loadSeconds, "reloads[\(index)].load_seconds", file)
            try atLeastZero(reload.firstPredictionSeconds, "reloads[\(index)].first_prediction_seconds", file)
        }
        for (index, parameter) in results.parameters.enumerated() {
            try nonEmpty(parameter.layer, "parameters[\(index)].layer", file)
            try nonEmpty(parameter.path, "parameters[\(index)].path", file)
            for size in parameter.shape { try atLeastZero(size, "parameters[\(index)].shape", file) }
        }
        if let probe = results.probe {
            try atLeastZero(probe.count, "probe.count", file)
            for (index, output) in probe.outputs.enumerated() {
                try nonEmpty(output.name, "probe.outputs[\(index)].name", file)
                try nonEmpty(output.path, "probe.outputs[\(index)].path", file)
            }
        }
        try atLeastZero(results.events.count, "events.count", file)
        if let model = results.model { try nonEmpty(model.path, "model.path", file) }
        try refuseNulls(raw, file: file)
    }

    static func check(_ event: ProgressEvent, file: String) throws(CompanionError) {
        try atLeastZero(event.task, "task", file)
        try atLeastZero(event.epoch, "epoch", file)
        try atLeastZero(event.miniBatch, "mini_batch", file)
        try atLeastZero(event.t, "t", file)
    }

    /// Optional fields the schema types without `null`: absent is fine, an explicit `null` is not (Swift's
    /// `decodeIfPresent` would take it for absent).
    private static func refuseNulls(_ raw: Data, file: String) throws(CompanionError) {
        guard let document = try? JSONSerialization.jsonObject(with: raw) as? [String: Any] else { return }
        func refuse(_ field: String) -> CompanionError {
            .invalidManifest(file: file, field: field, reason: "is null; leave it out instead")
        }
        if document["reloads"] is NSNull { throw refuse("reloads") }
        if let producer = document["producer"] as? [String: Any], producer["semantics"] is NSNull {
            throw refuse("producer.semantics")
        }
        for (index, parameter) in (document["parameters"] as? [Any] ?? []).enumerated() {
            if let parameter = parameter as? [String: Any], parameter["source"] is NSNull {
                throw refuse("parameters[\(index)].source")
            }
        }
        for (index, task) in (document["tasks"] as? [Any] ?? []).enumerated() {
            if let task = task as? [String: Any], task["contaminated"] is NSNull {
                throw refuse("tasks[\(index)].contaminated")
            }
        }
        if let probe = document["probe"] as? [String: Any] {
            for (index, output) in (probe["outputs"] as? [Any] ?? []).enumerated() {
                if let output = output as? [String: Any], output["classes"] is NSNull {
                    throw refuse("probe.outputs[\(index)].classes")
                }
            }
        }
    }

    private static func nonEmpty(_ text: String, _ field: String, _ file: String) throws(CompanionError) {
        guard !text.isEmpty else { throw .invalidManifest(file: file, field: field, reason: "is empty") }
    }

    private static func atLeastZero<Number: Comparable & ExpressibleByIntegerLiteral>(
        _ value: Number?, _ field: String, _ file: String
    ) throws(CompanionError) {
        guard let value else { return }
        guard value >= 0 else { throw .invalidManifest(file: file, field: field, reason: "is negative") }
    }
}
