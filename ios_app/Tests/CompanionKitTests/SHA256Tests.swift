@testable import CompanionKit
import Foundation
import XCTest

/// FIPS 180-4 / NIST CAVP vectors for SHA-256.
final class SHA256Tests: XCTestCase {
    func testEmptyMessageMatchesNISTVector() {
        XCTAssertEqual(SHA256.hex(of: [UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testAbcMatchesNISTVector() {
        XCTAssertEqual(
            SHA256.hex(of: Array("abc".utf8)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testTwoBlockMessageMatchesNISTVector() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        XCTAssertEqual(
            SHA256.hex(of: Array(message.utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testLongMessageMatchesNISTVector() {
        let message =
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
            + "mnopqrstnopqrstu"
        XCTAssertEqual(
            SHA256.hex(of: Array(message.utf8)),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testOneMillionAsMatchesNISTVector() {
        XCTAssertEqual(
            SHA256.hex(of: [UInt8](repeating: 0x61, count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testChunkedUpdatesEqualOneShotAtEveryPaddingBoundary() {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for length in [55, 56, 63, 64, 65, 119, 120, 128, 200] {
            let whole = SHA256.hex(of: message.prefix(length))
            for split in [0, 1, 63, 64, length / 2, length] where split <= length {
                var hasher = SHA256()
                hasher.update(message.prefix(split))
                hasher.update(message[split..<length])
                XCTAssertEqual(SHA256.hexString(hasher.finalize()), whole, "length \(length) split \(split)")
            }
        }
    }

    func testFileHashEqualsInMemoryHash() throws {
        let directory = try TemporaryDirectory()
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let url = directory.url.appendingPathComponent("blob.bin")
        try Data(bytes).write(to: url)
        XCTAssertEqual(try SHA256.hex(ofFileAt: url), SHA256.hex(of: bytes))
    }

    func testHashingAMissingFileIsAnIOError() throws {
        let directory = try TemporaryDirectory()
        XCTAssertThrowsError(try SHA256.hex(ofFileAt: directory.url.appendingPathComponent("nope"))) { error in
            XCTAssertEqual((error as? CompanionError)?.kind, "io")
        }
    }
}
