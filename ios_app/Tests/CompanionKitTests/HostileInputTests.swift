@testable import CompanionKit
import Foundation
import XCTest

/// Inputs that trapped or fooled the readers: each must end in a `CompanionError`, the same refusal the Python
/// reader makes (tests/contract/test_fuzz_corpus.py runs both readers over a shared corpus).
final class HostileInputTests: XCTestCase {
    private func npy(shape: String) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        return data + Data(count: 16)
    }

    func testAnNpyHeaderWhoseElementCountOverflowsIsRefused() {
        // (4, 2**32, 2**32): the product is 2**66, which trapped `shape.reduce(1, *)`.
        assertRefused("invalidNpy") { try NpyArray.decode(npy(shape: "(4, 4294967296, 4294967296)"), path: "p.npy") }
        assertRefused("invalidNpy") { try NpyArray.decode(npy(shape: "(" + String(repeating: "1, ", count: 65) + ")"), path: "p.npy") }
        assertRefused("invalidNpy") { try NpyArray.decode(npy(shape: "(3)"), path: "p.npy") }  // an int, not a tuple
    }

    func testTwoNamesEqualAfterUnicodeNormalisationAreRefusedNotTrapped() throws {
        let folder = try TemporaryDirectory()
        try Data("1".utf8).write(to: folder.url.appendingPathComponent("caf\u{00E9}"))
        try Data("2".utf8).write(to: folder.url.appendingPathComponent("cafe\u{0301}"))
        // Building a dictionary of the listing trapped with "Duplicate values for key".
        assertRefused("unsafePath") { try BundlePath.walk(folder.url) }
        assertRefused("unsafePath") { try BundlePath.validate("cafe\u{0301}", field: "files") }
        XCTAssertNoThrow(try BundlePath.validate("caf\u{00E9}", field: "files"))
    }

    func testPathsRefusedByBothReaders() {
        for path in ["a:b", "x\u{01}y", "x\u{7F}y", "/abs", "a//b", "a/../b"] {
            assertRefused("unsafePath") { try BundlePath.validate(path, field: "files") }
        }
        XCTAssertNoThrow(try BundlePath.validate("ab:c", field: "files"))
    }

    func testJSONTheDecoderWouldAcceptIsRefusedLikeThePythonReader() {
        let cases = [
            #"{"a": 1, "a": 2}"#,  // a key twice
            "{\"caf\u{00E9}\": 1, \"cafe\u{0301}\": 2}",  // twice after normalisation: Swift merged them
            #"{"a": "\ud800"}"#,  // an unpaired surrogate
            #"{"a": "\udc00\ud800"}"#,
            String(repeating: "[", count: 400) + String(repeating: "]", count: 400),
            "\u{FEFF}{}",  // a byte-order mark
        ]
        for text in cases {
            assertRefused("invalidManifest") { try StrictJSON.check(Data(text.utf8), file: "x.json") }
        }
        XCTAssertNoThrow(try StrictJSON.check(Data(#"{"a": "\ud83d\ude00", "b": [{"a": 1}, {"a": 2}]}"#.utf8), file: "x"))
    }

    func testDONEIsSplitAtNewlineBytesOnly() throws {
        let hash = String(repeating: "a", count: 64)
        XCTAssertEqual(try ResultsBundle.sentinelLines(Data("job\n\(hash)\n".utf8)).jobID, "job")
        XCTAssertEqual(try ResultsBundle.sentinelLines(Data("job\n\(hash)".utf8)).resultsSHA256, hash)
        // `\r\n` is one Character in Swift: splitting Characters saw one line; bytes see a job named "job\r".
        XCTAssertEqual(try ResultsBundle.sentinelLines(Data("job\r\n\(hash)\r\n".utf8)).jobID, "job\r")
        for text in ["job\n\(hash)\n\n", "job\n\(hash)\nmore\n", "one line only", ""] {
            assertRefused("invalidManifest") { try ResultsBundle.sentinelLines(Data(text.utf8)) }
        }
    }

    func testAFifoInPlaceOfAFileIsRefusedWithoutBlocking() throws {
        let folder = try TemporaryDirectory()
        let fifo = folder.url.appendingPathComponent("DONE")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertRefused("unsafePath") { try BundleFiles.readTopLevelFile("DONE", in: folder.url, limit: Limits.doneBytes) }
    }

    func testAnOversizedDONEIsRefusedBeforeReading() throws {
        let folder = try TemporaryDirectory()
        let done = folder.url.appendingPathComponent("DONE")
        XCTAssertTrue(FileManager.default.createFile(atPath: done.path, contents: nil))
        let handle = try FileHandle(forWritingTo: done)
        try handle.truncate(atOffset: 6 << 30)  // sparse
        try handle.close()
        assertRefused("invalidManifest") { try BundleFiles.readTopLevelFile("DONE", in: folder.url, limit: Limits.doneBytes) }
    }
}
