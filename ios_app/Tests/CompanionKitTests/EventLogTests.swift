@testable import CompanionKit
import Foundation
import XCTest

final class EventLogTests: XCTestCase {
    func testLinesCarryEveryFieldWithNullsSpelledOut() throws {
        let log = EventLog()
        log.append(ProgressEvent(task: 0, event: .trainingBegin, epoch: nil, miniBatch: nil, loss: nil, t: 0))
        log.append(ProgressEvent(task: 0, event: .miniBatchEnd, epoch: 0, miniBatch: 3, loss: 2.5, t: 0.125))
        let lines = String(decoding: try log.jsonLines(), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(
            lines[0], #"{"epoch":null,"event":"trainingBegin","loss":null,"mini_batch":null,"t":0,"task":0}"#)
        XCTAssertEqual(lines[1], #"{"epoch":0,"event":"miniBatchEnd","loss":2.5,"mini_batch":3,"t":0.125,"task":0}"#)
    }

    func testNonFiniteLossIsWrittenAsNull() throws {
        let event = ProgressEvent(task: 1, event: .epochEnd, epoch: 2, miniBatch: nil, loss: .nan, t: 1)
        let decoded = try EventLog.decode(EventLog.encode([event]))
        XCTAssertEqual(decoded.count, 1)
        XCTAssertNil(decoded[0].loss)
    }

    func testRoundTripKeepsOrderAndValues() throws {
        let events = (0..<50).map { (index: Int) -> ProgressEvent in
            let loss = 1 / Double(index + 1)
            return ProgressEvent(
                task: index / 25, event: .miniBatchEnd, epoch: index % 5, miniBatch: index % 3,
                loss: loss, t: Double(index) / 8)
        }
        XCTAssertEqual(try EventLog.decode(EventLog.encode(events)), events)
    }

    func testBlankLineAndUnknownFieldAreRefusedWithTheLineNumber() {
        let blank = Data(
            "{\"task\":0,\"event\":\"completion\",\"epoch\":null,\"mini_batch\":null,\"loss\":null,\"t\":0}\n\n".utf8)
        let error = assertRefused("invalidManifest") { try EventLog.decode(blank) }
        XCTAssertTrue(error?.description.hasPrefix("events.jsonl:2") ?? false, String(describing: error))
        let extra = Data(
            #"{"task":0,"event":"completion","epoch":null,"mini_batch":null,"loss":null,"t":0,"x":1}"#.utf8)
        assertRefused("invalidManifest") { try EventLog.decode(extra) }
    }

    func testConcurrentAppendsLoseNothing() {
        let log = EventLog()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<500 {
                log.append(
                    ProgressEvent(task: worker, event: .miniBatchEnd, epoch: 0, miniBatch: index, loss: nil, t: 0))
            }
        }
        let events = log.snapshot
        XCTAssertEqual(events.count, 4000)
        for worker in 0..<8 {
            XCTAssertEqual(events.filter { $0.task == worker }.map { $0.miniBatch ?? -1 }, Array(0..<500))
        }
    }

    func testMirroredLogAppendsEachLineToItsFileAsItHappensUntilStopped() throws {
        let directory = try TemporaryDirectory()
        let file = directory.url.appendingPathComponent("outbox/.job.partial/events.jsonl")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("stale line from a crashed run\n".utf8).write(to: file)
        let log = try EventLog(mirroringTo: file)
        XCTAssertEqual(try Data(contentsOf: file), Data(), "a stale live log is emptied")
        log.append(ProgressEvent(task: 0, event: .trainingBegin, epoch: nil, miniBatch: nil, loss: nil, t: 0))
        XCTAssertEqual(try Data(contentsOf: file), try log.jsonLines())
        log.append(ProgressEvent(task: 0, event: .epochEnd, epoch: 0, miniBatch: nil, loss: 1.5, t: 0.5))
        XCTAssertEqual(try Data(contentsOf: file), try log.jsonLines())
        log.stopMirroring()
        log.append(ProgressEvent(task: 0, event: .completion, epoch: nil, miniBatch: nil, loss: 1.5, t: 0.6))
        XCTAssertEqual(try EventLog.decode(Data(contentsOf: file)).count, 2)
        XCTAssertEqual(log.snapshot.count, 3)
    }

    func testMirrorThatCannotBeCreatedIsRefusedAsAnIOError() throws {
        let directory = try TemporaryDirectory()
        let blocker = directory.url.appendingPathComponent("outbox")
        try Data("a file where the outbox folder should be".utf8).write(to: blocker)
        assertRefused("io") { try EventLog(mirroringTo: blocker.appendingPathComponent(".job.partial/events.jsonl")) }
    }

    func testStopwatchIsMonotonic() {
        let stopwatch = Stopwatch()
        var last = 0.0
        for _ in 0..<1000 {
            let now = stopwatch.elapsedSeconds
            XCTAssertGreaterThanOrEqual(now, last)
            last = now
        }
        let (value, seconds) = timed { 41 + 1 }
        XCTAssertEqual(value, 42)
        XCTAssertGreaterThanOrEqual(seconds, 0)
        XCTAssertFalse(Deadline(seconds: 3600).hasPassed)
        XCTAssertTrue(Deadline(seconds: 0).hasPassed)
    }
}
