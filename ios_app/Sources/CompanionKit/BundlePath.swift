import Foundation

/// Path rules of the contract: bundle paths are relative, use `/`, have no empty, `.` or `..` segments and no
/// backslashes, and name regular files or folders inside the bundle, never symbolic links.
public enum BundlePath {
    /// Checks the spelling of a relative bundle path; `field` names where it came from for the error.
    public static func validate(_ path: String, field: String) throws(CompanionError) {
        func refuse(_ reason: String) -> CompanionError {
            .unsafePath(path: path, field: field, reason: reason)
        }
        if path.isEmpty { throw refuse("empty path") }
        if path.hasPrefix("/") { throw refuse("absolute path") }
        if path.contains("\\") { throw refuse("backslash in path") }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw refuse("control character in path")
        }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { throw refuse("empty segment") }
            if segment == "." || segment == ".." { throw refuse("'\(segment)' segment") }
        }
    }

    /// The URL of `path` inside `root`, after checking its spelling and that no existing component on the way
    /// (including the last) is a symbolic link. The file itself need not exist.
    public static func resolve(_ path: String, in root: URL, field: String) throws(CompanionError) -> URL {
        try validate(path, field: field)
        var url = root
        for segment in path.split(separator: "/") {
            url = url.appendingPathComponent(String(segment))
            if isSymbolicLink(url) {
                throw .unsafePath(path: path, field: field, reason: "'\(url.lastPathComponent)' is a symbolic link")
            }
        }
        return url
    }

    /// What is at `url`, without following a final symbolic link.
    public enum Entry: Equatable, Sendable {
        case missing, file, directory, symbolicLink, other
    }

    public static func entry(at url: URL) -> Entry {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
            let type = attributes[.type] as? FileAttributeType
        else { return .missing }
        switch type {
        case .typeRegular: return .file
        case .typeDirectory: return .directory
        case .typeSymbolicLink: return .symbolicLink
        default: return .other
        }
    }

    static func isSymbolicLink(_ url: URL) -> Bool {
        entry(at: url) == .symbolicLink
    }

    /// Every entry below `root` as relative `/` paths with what it is, sorted; folders are walked, links are not.
    public static func walk(_ root: URL) throws(CompanionError) -> [(path: String, entry: Entry)] {
        var found: [(path: String, entry: Entry)] = []
        try walk(root, prefix: "", into: &found)
        return found.sorted { $0.path < $1.path }
    }

    private static func walk(
        _ directory: URL, prefix: String, into found: inout [(path: String, entry: Entry)]
    ) throws(CompanionError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .io(path: directory.path, operation: "list directory", reason: error.localizedDescription)
        }
        for name in names {
            let url = directory.appendingPathComponent(name)
            let relative = prefix + name
            let kind = entry(at: url)
            found.append((relative, kind))
            if kind == .directory {
                try walk(url, prefix: relative + "/", into: &found)
            }
        }
    }
}

/// The contract's job id rule: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
public enum JobID {
    public static func isValid(_ id: String) -> Bool {
        let scalars = Array(id.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 128, isAlphanumeric(first) else { return false }
        return scalars.dropFirst().allSatisfy { isAlphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
