@testable import CompanionKit
import Foundation
import XCTest

/// The results fields the Core ML runner added for the two parameter reads, reload timings and task states:
/// optional in the schema, read from the golden bundle Python wrote, and written the way Python writes them.
final class ResultsAdditionsTests: XCTestCase {
    private var goldenSucceeded: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tests/data/contract/results/succeeded")
    }

    func testGoldenResultsCarryBothReadsReloadsAndTaskStates() throws {
        let manifest = try ResultsBundle.open(at: goldenSucceeded, expectedJobID: "golden-classifier-image").manifest
        XCTAssertEqual(Set(manifest.parameters.compactMap(\.source)), [.context, .reloaded])
        let reloaded = manifest.parameters.filter { $0.source == .reloaded }.map(\.path).sorted()
        XCTAssertEqual(reloaded, ["parameters/reloaded/dense.biases.npy", "parameters/reloaded/dense.weights.npy"])
        XCTAssertEqual(manifest.reloads?.map(\.computeUnits), [.cpuOnly, .cpuAndGPU, .all])
        XCTAssertEqual(manifest.tasks.map(\.taskState), [.completed, .completed])
        XCTAssertFalse(manifest.tasks.contains(where: \.contaminated))
    }

    func testReloadedDumpsGoUnderTheirOwnFolder() {
        let context = ParameterArtifact(layer: "dense", scope: "model1", kind: .weights, shape: [2], source: .context)
        let reloaded = ParameterArtifact(layer: "dense", scope: "model1", kind: .weights, shape: [2], source: .reloaded)
        XCTAssertEqual(context.path, "parameters/model1.dense.weights.npy")
        XCTAssertEqual(reloaded.path, "parameters/reloaded/model1.dense.weights.npy")
    }

    func testOptionalFieldsAreWrittenOnlyWhenTheyHoldSomething() throws {
        var task = TaskRecord(index: 0)
        var json = try XCTUnwrap(String(data: ContractJSON.lineEncoder().encode(task), encoding: .utf8))
        XCTAssertFalse(json.contains("task_state"))
        XCTAssertFalse(json.contains("contaminated"))
        task.taskState = .cancelling
        task.contaminated = true
        json = try XCTUnwrap(String(data: ContractJSON.lineEncoder().encode(task), encoding: .utf8))
        XCTAssertTrue(json.contains("\"task_state\":\"cancelling\""))
        XCTAssertTrue(json.contains("\"contaminated\":true"))
        XCTAssertTrue(TaskStateName.cancelling.mayStillRun)
        XCTAssertFalse(TaskStateName.completed.mayStillRun)
    }

    func testAReloadWritesEveryFieldEvenWhenNull() throws {
        let reload = ReloadTiming(computeUnits: .all, loadSeconds: 1.5)
        let json = try XCTUnwrap(String(data: ContractJSON.lineEncoder().encode(reload), encoding: .utf8))
        XCTAssertTrue(json.contains("\"first_prediction_seconds\":null"))
        XCTAssertTrue(json.contains("\"error\":null"))
        XCTAssertEqual(try ContractJSON.decoder().decode(ReloadTiming.self, from: Data(json.utf8)), reload)
    }
}
