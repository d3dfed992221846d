import Foundation

/// Writes a folder (a sealed results bundle) as a zip archive, the form an XCTest attachment carries it in.
///
/// Entries are stored, not compressed: Foundation has no deflate on Linux, and a bundle's `.npy` and compiled
/// weights barely compress. Paths are the folder's relative `/` paths, sorted, UTF-8 (flag bit 11), with Unix
/// modes (0644 files, 0755 folders) so readers see no links; every timestamp is 1980-01-01, so the same folder
/// always gives the same bytes. Links and special files are refused, as the bundle readers refuse them. The
/// archive is written beside `archive` under a hidden name and renamed into place when complete, and an
/// existing file is never replaced. Without ZIP64 an archive holds at most 65,535 entries and 4 GiB, which is
/// also what the host's reader accepts (`mlharness.xctest.archive`).
public enum ZipArchive {
    /// The largest archive (and so entry) written: the 32-bit sizes and offsets of a zip without ZIP64.
    public static let maximumBytes: UInt64 = 0xFFFF_FFFF
    public static let maximumEntries = 0xFFFF

    private static let chunkSize = 1 << 20
    private static let dosDate: UInt16 = (0 << 9) | (1 << 5) | 1  // 1980-01-01, the earliest a zip can say
    private static let versionNeeded: UInt16 = 20
    private static let versionMadeBy: UInt16 = (3 << 8) | 20  // Unix, so the external attributes are modes
    private static let utf8Names: UInt16 = 1 << 11

    private struct Entry {
        let name: [UInt8]
        let crc: UInt32
        let size: UInt32
        let offset: UInt32
        let isDirectory: Bool
    }

    /// Writes every file and folder below `folder` into a new zip at `archive` and returns `archive`.
    @discardableResult
    public static func write(folder: URL, to archive: URL) throws(CompanionError) -> URL {
        guard BundlePath.entry(at: archive) == .missing else {
            throw .io(path: archive.path, operation: "create the archive", reason: "a file is already there")
        }
        let items = try BundlePath.walk(folder)
        guard items.count <= maximumEntries else {
            throw .io(
                path: folder.path, operation: "archive",
                reason: "\(items.count) entries, more than the \(maximumEntries) of a zip without ZIP64")
        }
        let staging = archive.deletingLastPathComponent()
            .appendingPathComponent(".\(archive.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: staging.path, contents: nil) else {
            throw .io(path: staging.path, operation: "create the archive", reason: "the file cannot be created")
        }
        do {
            try fill(staging, from: folder, items: items)
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
        do {
            try FileManager.default.moveItem(at: staging, to: archive)
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw .io(path: archive.path, operation: "move the archive into place", reason: error.localizedDescription)
        }
        return archive
    }

    private static func fill(
        _ staging: URL, from folder: URL, items: [(path: String, entry: BundlePath.Entry)]
    ) throws(CompanionError) {
        let sink: FileHandle
        do {
            sink = try FileHandle(forWritingTo: staging)
        } catch {
            throw .io(path: staging.path, operation: "open the archive", reason: error.localizedDescription)
        }
        defer { try? sink.close() }
        var entries: [Entry] = []
        var offset: UInt64 = 0
        for item in items {
            let name: String
            switch item.entry {
            case .directory: name = item.path + "/"
            case .file: name = item.path
            default:
                throw .unsafePath(path: item.path, field: "archive", reason: "a link or special file is not archived")
            }
            let bytes = Array(name.utf8)
            let start = try checked(offset, staging)
            try put(localHeader(name: bytes, crc: 0, size: 0), into: sink, at: staging)
            offset += UInt64(30 + bytes.count)
            var crc = CRC32()
            var size: UInt64 = 0
            if item.entry == .file {
                size = try copy(folder.appendingPathComponent(item.path), into: sink, crc: &crc, at: staging)
                offset += size
                _ = try checked(offset, staging)
                // The sizes and CRC are known only now: write them into the local header, then carry on at the end.
                try patch(sink, at: UInt64(start) + 14, with: crcAndSizes(crc.value, UInt32(size)), staging)
            }
            entries.append(
                Entry(
                    name: bytes, crc: crc.value, size: UInt32(size), offset: start,
                    isDirectory: item.entry == .directory))
        }
        let directoryStart = try checked(offset, staging)
        var directory = ByteWriter()
        for entry in entries {
            directory.centralHeader(entry)
        }
        let directorySize = try checked(offset + UInt64(directory.bytes.count), staging) - directoryStart
        var end = ByteWriter()
        end.u32(0x0605_4b50)
        end.u16(0)
        end.u16(0)
        end.u16(UInt16(entries.count))
        end.u16(UInt16(entries.count))
        end.u32(directorySize)
        end.u32(directoryStart)
        end.u16(0)
        try put(directory.bytes + end.bytes, into: sink, at: staging)
        do {
            try sink.synchronize()
        } catch {
            throw .io(path: staging.path, operation: "flush the archive", reason: error.localizedDescription)
        }
    }

    private static func checked(_ offset: UInt64, _ staging: URL) throws(CompanionError) -> UInt32 {
        guard offset <= maximumBytes else {
            throw .io(
                path: staging.path, operation: "archive", reason: "more than 4 GiB, the limit of a zip without ZIP64")
        }
        return UInt32(offset)
    }

    private static func copy(
        _ source: URL, into sink: FileHandle, crc: inout CRC32, at staging: URL
    ) throws(CompanionError) -> UInt64 {
        let reader: FileHandle
        do {
            reader = try FileHandle(forReadingFrom: source)
        } catch {
            throw .io(path: source.path, operation: "read for the archive", reason: error.localizedDescription)
        }
        defer { try? reader.close() }
        var size: UInt64 = 0
        while true {
            let chunk: Data
            do {
                chunk = try reader.read(upToCount: chunkSize) ?? Data()
            } catch {
                throw .io(path: source.path, operation: "read for the archive", reason: error.localizedDescription)
            }
            if chunk.isEmpty { return size }
            crc.update(chunk)
            size += UInt64(chunk.count)
            guard size <= maximumBytes else {
                throw .io(path: source.path, operation: "archive", reason: "larger than 4 GiB, the limit of a zip")
            }
            try put(chunk, into: sink, at: staging)
        }
    }

    private static func put<Bytes: DataProtocol>(
        _ bytes: Bytes, into sink: FileHandle, at staging: URL
    ) throws(CompanionError) {
        do {
            try sink.write(contentsOf: bytes)
        } catch {
            throw .io(path: staging.path, operation: "write the archive", reason: error.localizedDescription)
        }
    }

    private static func patch(
        _ sink: FileHandle, at position: UInt64, with bytes: [UInt8], _ staging: URL
    ) throws(CompanionError) {
        do {
            let end = try sink.offset()
            try sink.seek(toOffset: position)
            try sink.write(contentsOf: bytes)
            try sink.seek(toOffset: end)
        } catch {
            throw .io(path: staging.path, operation: "write the archive", reason: error.localizedDescription)
        }
    }

    private static func localHeader(name: [UInt8], crc: UInt32, size: UInt32) -> [UInt8] {
        var header = ByteWriter()
        header.u32(0x0403_4b50)
        header.u16(versionNeeded)
        header.u16(utf8Names)
        header.u16(0)  // stored
        header.u16(0)  // time 00:00:00
        header.u16(dosDate)
        header.bytes += crcAndSizes(crc, size)
        header.u16(UInt16(name.count))
        header.u16(0)
        header.bytes += name
        return header.bytes
    }

    private static func crcAndSizes(_ crc: UInt32, _ size: UInt32) -> [UInt8] {
        var fields = ByteWriter()
        fields.u32(crc)
        fields.u32(size)  // compressed size: stored, so the same
        fields.u32(size)
        return fields.bytes
    }

    private struct ByteWriter {
        var bytes: [UInt8] = []

        mutating func u16(_ value: UInt16) {
            bytes += [UInt8(value & 0xFF), UInt8(value >> 8)]
        }

        mutating func u32(_ value: UInt32) {
            u16(UInt16(value & 0xFFFF))
            u16(UInt16(value >> 16))
        }

        mutating func centralHeader(_ entry: Entry) {
            u32(0x0201_4b50)
            u16(versionMadeBy)
            u16(versionNeeded)
            u16(utf8Names)
            u16(0)
            u16(0)
            u16(dosDate)
            u32(entry.crc)
            u32(entry.size)
            u32(entry.size)
            u16(UInt16(entry.name.count))
            u16(0)  // extra
            u16(0)  // comment
            u16(0)  // disk
            u16(0)  // internal attributes
            let mode: UInt32 = entry.isDirectory ? 0o040755 : 0o100644
            u32(mode << 16 | (entry.isDirectory ? 0x10 : 0))  // Unix mode, and MS-DOS's directory bit
            u32(entry.offset)
            bytes += entry.name
        }
    }
}

/// CRC-32 as zip uses it (ISO 3309, reflected polynomial 0xEDB88320).
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            state = Self.table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8)
        }
    }

    public var value: UInt32 { state ^ 0xFFFF_FFFF }
}
