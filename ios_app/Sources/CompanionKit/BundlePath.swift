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
        let scalars = Array(path.unicodeScalars)
        // `C:x` is absolute on Windows; the Python reader refuses every path whose second character is ':'.
        if path.hasPrefix("/") || (scalars.count > 1 && scalars[1] == ":") { throw refuse("absolute path") }
        if path.contains("\\") { throw refuse("backslash in path") }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw refuse("control character in path")
        }
        if !isNFC(path) {
            throw refuse("not in Unicode NFC: Apple's file systems take it for its NFC twin")
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

    /// Every entry below `root` as relative `/` paths with what it is, sorted; folders are walked (without
    /// recursion, at most `Limits.treeDepth` deep and `Limits.treeEntries` entries), links are not. Two names in
    /// one folder that are equal after Unicode normalisation are refused: Swift (and Apple's file systems) take
    /// them for one name.
    public static func walk(_ root: URL) throws(CompanionError) -> [(path: String, entry: Entry)] {
        var found: [(path: String, entry: Entry)] = []
        var pending: [(url: URL, prefix: String, depth: Int)] = [(root, "", 0)]
        while let (directory, prefix, depth) = pending.popLast() {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            } catch {
                throw .io(path: directory.path, operation: "list directory", reason: error.localizedDescription)
            }
            var seen = Set<String>()
            for name in names.sorted() {
                let relative = prefix + name
                guard seen.insert(name).inserted else {
                    throw .unsafePath(
                        path: relative, field: "files", reason: "two names here are equal after Unicode normalisation")
                }
                let url = directory.appendingPathComponent(name)
                let kind = entry(at: url)
                found.append((relative, kind))
                guard found.count <= Limits.treeEntries else {
                    throw .unsafePath(path: prefix, field: "files", reason: "more than \(Limits.treeEntries) entries")
                }
                if kind == .directory {
                    guard depth + 1 < Limits.treeDepth else {
                        throw .unsafePath(
                            path: String(relative.prefix(200)), field: "files",
                            reason: "folders nest more than \(Limits.treeDepth) deep")
                    }
                    pending.append((url, relative + "/", depth + 1))
                }
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    /// Whether `text` is in Unicode Normalization Form C, compared scalar by scalar (Swift's `==` would call a
    /// string and its decomposed twin equal).
    static func isNFC(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy(\.isASCII)
            || Array(text.precomposedStringWithCanonicalMapping.unicodeScalars) == Array(text.unicodeScalars)
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
