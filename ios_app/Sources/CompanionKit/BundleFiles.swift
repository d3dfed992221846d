import Foundation

/// The `files` rule shared by job and results bundles: every file except the manifest (and `DONE`) is listed
/// with its sha256, nothing else is present, nothing is a link, and every hash matches.
enum BundleFiles {
    /// The marker a host command leaves at the top of an output folder it owns (`mlupdate.output_folder`); readers
    /// ignore it, so a results bundle pulled into such a folder stays valid.
    static let hostOutputMarker = ".mlharness-output.json"

    /// Checks the bundle at `root` against `listed`; `exempt` names the files the rule exempts (with the host's
    /// output marker).
    static func verify(root: URL, listed: [String: String], exempt: Set<String>) throws(CompanionError) {
        let exempt = exempt.union([hostOutputMarker])
        for (path, hash) in listed.sorted(by: { $0.key < $1.key }) {
            try BundlePath.validate(path, field: "files")
            guard isSHA256Hex(hash) else {
                throw .invalidManifest(
                    file: path, field: "files", reason: "hash '\(hash)' is not 64 lowercase hex digits")
            }
        }
        let entries = try BundlePath.walk(root)
        // `walk` refused names equal after normalisation; still, never trap on a duplicate key.
        let present = Dictionary(entries.map { ($0.path, $0.entry) }, uniquingKeysWith: { first, _ in first })
        // Links and special files anywhere first, then unlisted files: the Python reader's order, so both readers
        // name the same rule for a bundle that breaks both.
        for (path, entry) in entries {
            switch entry {
            case .symbolicLink:
                throw .unsafePath(path: path, field: "files", reason: "symbolic link inside the bundle")
            case .other:
                throw .unsafePath(path: path, field: "files", reason: "not a regular file or folder")
            case .file, .directory, .missing:
                continue
            }
        }
        for (path, entry) in entries where entry == .file && listed[path] == nil && !exempt.contains(path) {
            throw .unlistedFile(path: path)
        }
        for path in listed.keys.sorted() where present[path] != .file {
            if let entry = present[path], entry != .missing {
                throw .unsafePath(path: path, field: "files", reason: "listed as a file but is a \(entry)")
            }
            throw .missingFile(path: path)
        }
        for (path, expected) in listed.sorted(by: { $0.key < $1.key }) {
            let actual = try SHA256.hex(ofFileAt: root.appendingPathComponent(path))
            guard actual == expected else { throw .hashMismatch(path: path, expected: expected, actual: actual) }
        }
    }

    /// The sha256 of every regular file below `root` except `exempt`; links and special files are refused.
    static func hashAll(root: URL, exempt: Set<String>) throws(CompanionError) -> [String: String] {
        var hashes: [String: String] = [:]
        for (path, entry) in try BundlePath.walk(root) {
            switch entry {
            case .file where !exempt.contains(path):
                hashes[path] = try SHA256.hex(ofFileAt: root.appendingPathComponent(path))
            case .symbolicLink, .other:
                throw .unsafePath(path: path, field: "files", reason: "bundles hold only regular files and folders")
            case .file, .directory, .missing:
                continue
            }
        }
        return hashes
    }

    static func isSHA256Hex(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Reads a manifest or sentinel that must be a regular file at the bundle's top level, at most `limit` bytes.
    static func readTopLevelFile(_ name: String, in root: URL, limit: Int) throws(CompanionError) -> Data {
        let url = root.appendingPathComponent(name)
        switch BundlePath.entry(at: url) {
        case .file:
            break
        case .missing:
            throw .missingFile(path: name)
        case .symbolicLink:
            throw .unsafePath(path: name, field: name, reason: "symbolic link")
        case .directory, .other:
            throw .unsafePath(path: name, field: name, reason: "not a regular file")
        }
        return try BoundedFile.read(url, limit: limit, path: name)
    }

    /// Reads only `schema_version`, so an unknown version is reported as such and not as a field error.
    static func checkSchemaVersion(_ data: Data, file: String) throws(CompanionError) {
        struct VersionOnly: Decodable {
            let schemaVersion: Int

            enum CodingKeys: String, CodingKey {
                case schemaVersion = "schema_version"
            }
        }
        let version = try ContractJSON.decode(VersionOnly.self, from: data, file: file).schemaVersion
        guard ContractVersion.supported.contains(version) else {
            throw .unsupportedSchemaVersion(file: file, found: version, supported: ContractVersion.supported)
        }
    }
}
