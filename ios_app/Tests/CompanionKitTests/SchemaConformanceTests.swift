@testable import CompanionKit
import Foundation
import XCTest

/// The Codable types and enumerations of CompanionKit against the contract's JSON schemas themselves
/// (python/mlupdate/bundle/schemas), walked here: every property a schema names is a coding key of the type
/// that stands for it and every coding key is a property, every enumeration has exactly the schema's values,
/// and the version, kind and file-name constants are the schema's. A field added on one side only fails here.
final class SchemaConformanceTests: XCTestCase {
    private var job: Schema!
    private var results: Schema!
    private var event: Schema!

    override func setUpWithError() throws {
        job = try Schema.load("job")
        results = try Schema.load("results")
        event = try Schema.load("event")
    }

    func testResultsManifestTypesHaveTheSchemasProperties() throws {
        let root = results.root
        try expectKeys(ResultsManifest.CodingKeys.self, root, "results.json")
        try expectKeys(Producer.CodingKeys.self, results.at(root, "properties", "producer"), "producer")
        let error = try results.objectBranch(results.at(root, "$defs", "error_or_null"))
        try expectKeys(RunError.CodingKeys.self, error, "error")
        try expectKeys(DeviceInfo.CodingKeys.self, results.at(root, "properties", "device"), "device")
        try expectKeys(TaskRecord.CodingKeys.self, results.at(root, "$defs", "task"), "tasks[]")
        try expectKeys(ReloadTiming.CodingKeys.self, results.at(root, "$defs", "reload"), "reloads[]")
        let model = try results.objectBranch(results.at(root, "properties", "model"))
        try expectKeys(ResultModel.CodingKeys.self, model, "model")
        try expectKeys(
            ParameterArtifact.CodingKeys.self, results.at(root, "properties", "parameters", "items"), "parameters[]")
        let probe = try results.objectBranch(results.at(root, "properties", "probe"))
        try expectKeys(ProbeResults.CodingKeys.self, probe, "probe")
        let output = try results.at(probe, "properties", "outputs", "items")
        try expectKeys(ProbeOutput.CodingKeys.self, output, "probe.outputs[]")
        try expectKeys(EventsReference.CodingKeys.self, results.at(root, "properties", "events"), "events")
    }

    func testResultsEnumerationsHaveTheSchemasValues() throws {
        let root = results.root
        try expectCases(RunStatus.self, results.enumeration(root, "$defs", "status"), "status")
        let producer = try results.at(root, "properties", "producer", "properties")
        try expectCases(Producer.Name.self, results.enumeration(producer, "name"), "producer.name")
        let error = try results.objectBranch(results.at(root, "$defs", "error_or_null"))
        try expectCases(RunPhase.self, results.enumeration(error, "properties", "phase"), "error.phase")
        try expectCases(
            TaskStateName.self, results.enumeration(root, "$defs", "task", "properties", "task_state"), "task_state")
        try expectCases(
            ComputeUnitsName.self, results.enumeration(root, "$defs", "reload", "properties", "compute_units"),
            "reloads[].compute_units")
        let model = try results.objectBranch(results.at(root, "properties", "model"))
        try expectCases(ModelFormat.self, results.enumeration(model, "properties", "format"), "model.format")
        let parameter = try results.at(root, "properties", "parameters", "items", "properties")
        try expectCases(ParameterArtifact.Kind.self, results.enumeration(parameter, "kind"), "parameters[].kind")
        try expectCases(ParameterArtifact.Source.self, results.enumeration(parameter, "source"), "parameters[].source")
        let probe = try results.objectBranch(results.at(root, "properties", "probe"))
        try expectCases(
            ProbeOutput.Kind.self, results.enumeration(probe, "properties", "outputs", "items", "properties", "type"),
            "probe.outputs[].type")
    }

    func testResultsConstantsAreTheSchemas() throws {
        let properties = try results.at(results.root, "properties")
        XCTAssertEqual(try results.constant(properties, "schema_version") as? Int, ContractVersion.current)
        XCTAssertEqual(try results.constant(properties, "kind") as? String, ResultsManifest.kindName)
        XCTAssertEqual(try results.constant(properties, "events", "properties", "path") as? String, EventLog.fileName)
    }

    func testProgressEventIsOneLineOfTheEventSchema() throws {
        try expectKeys(ProgressEvent.CodingKeys.self, event.root, "events.jsonl line")
        try expectCases(ProgressEvent.Name.self, event.enumeration(event.root, "properties", "event"), "event")
    }

    func testJobManifestTypesHaveTheSchemasProperties() throws {
        let root = job.root
        try expectKeys(JobManifest.CodingKeys.self, root, "job.json")
        try expectKeys(JobModel.CodingKeys.self, job.at(root, "properties", "model"), "model")
        try expectKeys(ExampleSet.CodingKeys.self, job.at(root, "$defs", "example_set"), "training")
        let feature = try job.at(root, "$defs", "feature")
        let rules = try job.array(feature, "allOf")
        var union = Set(try job.keys(feature))
        for rule in rules { union.formUnion(try job.keys(job.at(rule, "then"))) }
        try expectKeys(Feature.CodingKeys.self, keys: union, "feature (every type)")
        try expectKeys(Feature.ImageKeys.self, job.at(rules[0], "then"), "image feature")
        try expectKeys(Feature.MultiArrayKeys.self, job.at(rules[1], "then"), "multiArray feature")
        try expectKeys(Feature.PlainKeys.self, job.at(rules[2], "then"), "string/int64 feature")
        XCTAssertEqual(try job.constant(rules[0], "if", "properties", "type") as? String, "image")
        XCTAssertEqual(try job.constant(rules[1], "if", "properties", "type") as? String, "multiArray")
    }

    func testJobEnumerationsAndConstantsAreTheSchemas() throws {
        let root = job.root
        let properties = try job.at(root, "properties")
        XCTAssertEqual(
            Set(ParameterName.allCases.map(\.rawValue)), Set(try job.keys(job.at(properties, "parameters"))),
            "job.json parameters")
        try expectCases(ProgressEventKind.self, job.enumeration(properties, "events", "items"), "events[]")
        try expectCases(ComputeUnitsName.self, job.enumeration(properties, "compute_units"), "compute_units")
        try expectCases(ModelFormat.self, job.enumeration(properties, "model", "properties", "format"), "model.format")
        let rules = try job.array(job.at(root, "$defs", "feature"), "allOf")
        try expectCases(ColorSpace.self, job.enumeration(rules[0], "then", "properties", "color_space"), "color_space")
        try expectCases(FeatureDType.self, job.enumeration(rules[1], "then", "properties", "dtype"), "dtype")
        XCTAssertEqual(try job.constant(properties, "schema_version") as? Int, ContractVersion.current)
        XCTAssertEqual(try job.constant(properties, "kind") as? String, JobManifest.kindName)
    }

    /// The walk must notice drift: a schema property the type lacks, and an enumeration value it lacks.
    func testAPropertyOrValueOnOneSideOnlyIsReported() throws {
        let device = try results.at(results.root, "properties", "device")
        var properties = try XCTUnwrap(device["properties"] as? [String: Any])
        properties["battery_level"] = ["type": "number"]
        XCTAssertEqual(
            mismatch(DeviceInfo.CodingKeys.self, keys: Set(properties.keys)),
            "schema only: [\"battery_level\"]; type only: []")
        XCTAssertEqual(
            mismatch(RunStatus.self, values: ["succeeded", "failed"]), "schema only: []; type only: [\"cancelled\"]")
    }

    // MARK: - comparison

    private func expectKeys<Keys: CodingKey & CaseIterable>(
        _ type: Keys.Type, _ node: [String: Any], _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let properties = (node["properties"] as? [String: Any]) ?? [:]
        try expectKeys(type, keys: Set(properties.keys), what, file: file, line: line)
    }

    private func expectKeys<Keys: CodingKey & CaseIterable>(
        _ type: Keys.Type, keys: Set<String>, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        if let problem = mismatch(type, keys: keys) {
            XCTFail("\(String(reflecting: type)) vs the schema's \(what): \(problem)", file: file, line: line)
        }
    }

    private func expectCases<Values: RawRepresentable & CaseIterable>(
        _ type: Values.Type, _ values: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) throws where Values.RawValue == String {
        if let problem = mismatch(type, values: values) {
            XCTFail("\(String(reflecting: type)) vs the schema's \(what): \(problem)", file: file, line: line)
        }
    }

    private func mismatch<Keys: CodingKey & CaseIterable>(_ type: Keys.Type, keys: Set<String>) -> String? {
        difference(Set(type.allCases.map(\.stringValue)), keys)
    }

    private func mismatch<Values: RawRepresentable & CaseIterable>(_ type: Values.Type, values: [String]) -> String?
    where Values.RawValue == String {
        difference(Set(type.allCases.map(\.rawValue)), Set(values))
    }

    private func difference(_ swift: Set<String>, _ schema: Set<String>) -> String? {
        if swift == schema { return nil }
        return "schema only: \(schema.subtracting(swift).sorted()); type only: \(swift.subtracting(schema).sorted())"
    }
}

/// One schema document, navigated by key path; `$ref`s to `#/...` are followed.
private struct Schema {
    let name: String
    let root: [String: Any]

    static func load(_ name: String) throws -> Schema {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("python/mlupdate/bundle/schemas/\(name).schema.json")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return Schema(name: name, root: try XCTUnwrap(document as? [String: Any], "\(url.path) is not an object"))
    }

    func at(_ node: [String: Any], _ path: String...) throws -> [String: Any] {
        var current = try resolved(node)
        for key in path {
            current = try resolved(XCTUnwrap(current[key] as? [String: Any], "\(name): no object at \(path)"))
        }
        return current
    }

    func keys(_ node: [String: Any]) throws -> [String] {
        Array(try XCTUnwrap(resolved(node)["properties"] as? [String: Any], "\(name): no properties").keys)
    }

    func array(_ node: [String: Any], _ key: String) throws -> [[String: Any]] {
        try XCTUnwrap(resolved(node)[key] as? [[String: Any]], "\(name): no array \(key)")
    }

    /// The string values of an `enum` (a `null` member, for optional fields, is left out).
    func enumeration(_ node: [String: Any], _ path: String...) throws -> [String] {
        var current = try resolved(node)
        for key in path { current = try at(current, key) }
        let values = try XCTUnwrap(current["enum"] as? [Any], "\(name): no enum at \(path)")
        return values.compactMap { $0 as? String }
    }

    func constant(_ node: [String: Any], _ path: String...) throws -> Any? {
        var current = try resolved(node)
        for key in path { current = try at(current, key) }
        return current["const"]
    }

    /// The object alternative of `oneOf: [{object}, {null}]`.
    func objectBranch(_ node: [String: Any]) throws -> [String: Any] {
        let branches = try XCTUnwrap(resolved(node)["oneOf"] as? [[String: Any]], "\(name): no oneOf")
        return try resolved(XCTUnwrap(branches.first { $0["type"] as? String == "object" }, "\(name): no object"))
    }

    private func resolved(_ node: [String: Any]) throws -> [String: Any] {
        guard let reference = node["$ref"] as? String else { return node }
        var current = root
        for key in reference.dropFirst(2).split(separator: "/") {
            current = try XCTUnwrap(current[String(key)] as? [String: Any], "\(name): cannot follow \(reference)")
        }
        return try resolved(current)
    }
}
