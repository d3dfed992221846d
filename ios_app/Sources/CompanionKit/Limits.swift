import Foundation

/// Limits on what the readers accept, the same numbers as `mlupdate.limits` on the Python side: every size a
/// reader would allocate from (file size, nesting depth, tensor rank and element count, folder depth and entry
/// count) is checked before anything is allocated, so a hostile bundle ends in a `CompanionError`, never in a
/// trap or an exhausted memory.
public enum Limits {
    public static let doneBytes = 1 << 10
    public static let manifestBytes = 64 << 20
    public static let eventsBytes = 512 << 20
    public static let labelsBytes = 64 << 20
    public static let jsonDepth = 64
    public static let tensorDimensions = 32
    public static let tensorElements = 1 << 31
    /// A tensor file holds at most `tensorElements` 8-byte values plus a header of at most 64 KiB.
    public static let tensorBytes = (1 << 31) * 8 + (1 << 16) + 10
    public static let treeDepth = 32
    public static let treeEntries = 1_000_000

    /// The element count of `shape`, or nil when it exceeds `tensorElements` (computed without overflow).
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= tensorElements else { return nil }
            count = product
        }
        return count
    }
}

/// Reading files of a bundle with a size limit, refusing links, pipes and devices before opening them.
enum BoundedFile {
    /// The bytes of the regular file at `url`, at most `limit` of them. `path` names the file in errors. A missing
    /// file is `missingFile`; anything that is not a regular file is `unsafePath`; a larger file `invalidManifest`.
    static func read(_ url: URL, limit: Int, path: String) throws(CompanionError) -> Data {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        } catch {
            throw .missingFile(path: path)
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw .unsafePath(path: path, field: path, reason: "not a regular file")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else {
            throw .invalidManifest(
                file: path, field: "(size)", reason: "is \(size) bytes, more than the \(limit) this reader accepts")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .io(path: path, operation: "read", reason: error.localizedDescription)
        }
        guard data.count <= limit else {
            throw .invalidManifest(file: path, field: "(size)", reason: "grew past \(limit) bytes while being read")
        }
        return data
    }
}
