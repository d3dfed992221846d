@testable import CompanionKit
import Foundation
import XCTest

/// The zip writer for results attachments: a valid store-only archive of a folder, byte for byte reproducible,
/// never written over an existing file, refusing links. (The host's reader accepting it is proven from Python:
/// tests/xctest/test_swift_attachment.py.)
final class ZipArchiveTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory = nil
    }

    private func folder(_ files: [String: String]) throws -> URL {
        let root = directory.url.appendingPathComponent("bundle")
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    private func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    private func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(u16(bytes, at)) | UInt32(u16(bytes, at + 2)) << 16
    }

    func testCRC32MatchesTheStandardCheckValue() {
        var crc = CRC32()
        crc.update(Array("123456789".utf8))
        XCTAssertEqual(crc.value, 0xCBF4_3926)
        XCTAssertEqual(CRC32().value, 0)
    }

    func testArchiveListsEveryEntryWithItsSizeAndCRC() throws {
        let root = try folder(["DONE": "job\nabc\n", "model/Tiny.mlmodelc/w.bin": "weights", "results.json": "{}"])
        let archive = try ZipArchive.write(folder: root, to: directory.url.appendingPathComponent("r.zip"))
        let bytes = Array(try Data(contentsOf: archive))

        // The end of central directory record: 22 bytes, no comment.
        let end = bytes.count - 22
        XCTAssertEqual(u32(bytes, end), 0x0605_4b50)
        let count = u16(bytes, end + 10)
        let directoryStart = Int(u32(bytes, end + 16))
        XCTAssertEqual(count, 5)  // DONE, model/, model/Tiny.mlmodelc/, .../w.bin, results.json
        var position = directoryStart
        var names: [String] = []
        for _ in 0..<count {
            XCTAssertEqual(u32(bytes, position), 0x0201_4b50)
            let crc = u32(bytes, position + 16)
            let size = Int(u32(bytes, position + 24))
            let nameLength = u16(bytes, position + 28)
            let mode = u32(bytes, position + 38) >> 16
            let local = Int(u32(bytes, position + 42))
            let name = String(decoding: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            names.append(name)
            // The local header agrees, and the stored data is the file.
            XCTAssertEqual(u32(bytes, local), 0x0403_4b50)
            XCTAssertEqual(u32(bytes, local + 14), crc, name)
            XCTAssertEqual(Int(u32(bytes, local + 22)), size, name)
            let data = Array(bytes[(local + 30 + nameLength)..<(local + 30 + nameLength + size)])
            var check = CRC32()
            check.update(data)
            XCTAssertEqual(check.value, crc, name)
            XCTAssertEqual(mode & 0o170000, name.hasSuffix("/") ? 0o040000 : 0o100000, name)
            position += 46 + nameLength
        }
        XCTAssertEqual(names, ["DONE", "model/", "model/Tiny.mlmodelc/", "model/Tiny.mlmodelc/w.bin", "results.json"])
    }

    func testTheSameFolderGivesTheSameBytes() throws {
        let root = try folder(["a.txt": "one", "b/c.txt": "two"])
        let first = try ZipArchive.write(folder: root, to: directory.url.appendingPathComponent("1.zip"))
        let second = try ZipArchive.write(folder: root, to: directory.url.appendingPathComponent("2.zip"))
        XCTAssertEqual(try Data(contentsOf: first), try Data(contentsOf: second))
    }

    func testAnExistingFileIsNeverReplaced() throws {
        let root = try folder(["a.txt": "one"])
        let archive = directory.url.appendingPathComponent("r.zip")
        try Data("mine".utf8).write(to: archive)
        assertRefused("io") { try ZipArchive.write(folder: root, to: archive) }
        XCTAssertEqual(try String(contentsOf: archive, encoding: .utf8), "mine")
    }

    func testALinkIsRefusedAndNothingIsLeftBehind() throws {
        let root = try folder(["a.txt": "one"])
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("escape"), withDestinationURL: URL(fileURLWithPath: "/etc/passwd"))
        let archive = directory.url.appendingPathComponent("r.zip")
        assertRefused("unsafePath") { try ZipArchive.write(folder: root, to: archive) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.url.path), ["bundle"])
    }
}
