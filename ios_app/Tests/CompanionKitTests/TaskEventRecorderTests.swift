@testable import CompanionKit
import XCTest

final class TaskEventRecorderTests: XCTestCase {
    func testMiniBatchEpochIsOneAfterTheLastEpochEndOrZero() {
        let log = EventLog()
        let recorder = TaskEventRecorder(task: 3, log: log)
        recorder.resumed()
        recorder.record(.trainingBegin, epochIndex: nil, miniBatchIndex: nil, loss: nil)
        recorder.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: 0, loss: 2.0)
        recorder.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: 1, loss: 1.5)
        recorder.record(.epochEnd, epochIndex: 0, miniBatchIndex: nil, loss: 1.5)
        recorder.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: 0, loss: 1.0)
        recorder.record(.epochEnd, epochIndex: 1, miniBatchIndex: nil, loss: 1.0)
        recorder.complete(loss: 0.9)
        let lines = log.snapshot
        XCTAssertEqual(
            lines.map(\.event),
            [
                .trainingBegin, .miniBatchEnd, .miniBatchEnd, .epochEnd, .miniBatchEnd,
                .epochEnd, .completion,
            ])
        XCTAssertEqual(lines.map(\.epoch), [nil, 0, 0, 0, 1, 1, nil])
        XCTAssertEqual(lines.map(\.miniBatch), [nil, 0, 1, nil, 0, nil, nil])
        XCTAssertTrue(lines.allSatisfy { $0.task == 3 })
        XCTAssertEqual(lines.map(\.t), lines.map(\.t).sorted(), "t never goes backwards")
        XCTAssertEqual(recorder.epochsEnded, 2)
        XCTAssertEqual(recorder.lastReportedLoss, 0.9)
    }

    func testMiniBatchEpochIsCountedFromTheIndexWhenNoEpochEndIsRequested() {
        let log = EventLog()
        let recorder = TaskEventRecorder(task: 0, log: log)
        recorder.resumed()
        // Two epochs of two mini-batches, then two epochs of a single one (index 0 every time).
        for index in [0, 1, 0, 1] {
            recorder.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: index, loss: 1.0)
        }
        let single = TaskEventRecorder(task: 1, log: log)
        single.resumed()
        single.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: 0, loss: 1.0)
        single.record(.miniBatchEnd, epochIndex: nil, miniBatchIndex: 0, loss: 0.5)
        XCTAssertEqual(log.snapshot.map(\.epoch), [0, 0, 1, 1, 0, 1])
        XCTAssertEqual(log.snapshot.map(\.miniBatch), [0, 1, 0, 1, 0, 0])
        XCTAssertEqual(recorder.epochsEnded, 0, "only epochEnd events count as ended epochs")
    }

    func testNonFiniteLossIsNullAndDoesNotReplaceTheLastLoss() {
        let recorder = TaskEventRecorder(task: 0, log: EventLog())
        recorder.record(.epochEnd, epochIndex: 0, miniBatchIndex: nil, loss: 0.5)
        let event = recorder.record(.epochEnd, epochIndex: 1, miniBatchIndex: nil, loss: .infinity)
        XCTAssertNil(event.loss)
        XCTAssertEqual(recorder.lastReportedLoss, 0.5)
    }
}

final class StridedLayoutTests: XCTestCase {
    func testContiguousOffsetsAreTheLinearIndex() {
        let shape = [2, 3, 4]
        XCTAssertEqual(StridedLayout.contiguousStrides(for: shape), [12, 4, 1])
        XCTAssertEqual(StridedLayout.offsets(shape: shape, strides: [12, 4, 1]), Array(0..<24))
    }

    func testPaddedRowsSkipThePadding() {
        // Two rows of three, each row padded to four elements.
        XCTAssertEqual(StridedLayout.offsets(shape: [2, 3], strides: [4, 1]), [0, 1, 2, 4, 5, 6])
    }

    func testScalarShapeHasOneElement() {
        XCTAssertEqual(StridedLayout.offsets(shape: [], strides: []), [0])
        XCTAssertEqual(StridedLayout.contiguousStrides(for: []), [])
    }
}
