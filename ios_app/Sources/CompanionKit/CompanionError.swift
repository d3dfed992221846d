import Foundation

/// Every refusal CompanionKit makes. Each case carries where the problem is (file, field or entry) so the
/// message can say what went wrong, where, and how to fix it, like the Python error tree.
public enum CompanionError: Error, Equatable, Sendable {
    /// The manifest's `schema_version` is not one this build understands.
    case unsupportedSchemaVersion(file: String, found: Int, supported: [Int])
    /// A manifest field is missing, has the wrong type or an invalid value, or is not part of the contract.
    case invalidManifest(file: String, field: String, reason: String)
    /// The manifest names a different job than the one expected.
    case jobIDMismatch(file: String, expected: String, found: String)
    /// A file the contract or the manifest requires does not exist.
    case missingFile(path: String)
    /// A file is present in the bundle but not listed in the manifest's `files`.
    case unlistedFile(path: String)
    /// A path is absolute, escapes the bundle, has empty/`.`/`..` segments or backslashes, or is a symbolic link.
    case unsafePath(path: String, field: String, reason: String)
    /// A file's sha256 differs from the manifest.
    case hashMismatch(path: String, expected: String, actual: String)
    /// A `.npy` file cannot be read or does not match what the manifest declares.
    case invalidNpy(path: String, reason: String)
    /// The results writer refuses to replace an existing results bundle.
    case outboxOccupied(path: String)
    /// A file system operation failed.
    case io(path: String, operation: String, reason: String)
}

extension CompanionError: CustomStringConvertible {
    /// A stable, machine-readable name for the refusal (the CLI prints it first, tests compare it).
    public var kind: String {
        switch self {
        case .unsupportedSchemaVersion: "unsupportedSchemaVersion"
        case .invalidManifest: "invalidManifest"
        case .jobIDMismatch: "jobIDMismatch"
        case .missingFile: "missingFile"
        case .unlistedFile: "unlistedFile"
        case .unsafePath: "unsafePath"
        case .hashMismatch: "hashMismatch"
        case .invalidNpy: "invalidNpy"
        case .outboxOccupied: "outboxOccupied"
        case .io: "io"
        }
    }

    public var description: String {
        switch self {
        case let .unsupportedSchemaVersion(file, found, supported):
            let versions = supported.map(String.init).joined(separator: ", ")
            return "\(file): schema_version \(found) is not supported (this build reads \(versions)); "
                + "rebuild the bundle with a matching mlupdate or update the companion app"
        case let .invalidManifest(file, field, reason):
            return "\(file): field '\(field)' \(reason); fix the bundle writer or rebuild the bundle"
        case let .jobIDMismatch(file, expected, found):
            return "\(file): job id '\(found)' does not match the expected job '\(expected)'; "
                + "pass the right job directory or rebuild the bundle"
        case let .missingFile(path):
            return "\(path): required file is missing; re-push the complete bundle"
        case let .unlistedFile(path):
            return "\(path): file is not listed in the manifest's 'files'; remove it or list it with its sha256"
        case let .unsafePath(path, field, reason):
            return "\(field): path '\(path)' is unsafe (\(reason)); use a relative path with '/' inside the bundle"
        case let .hashMismatch(path, expected, actual):
            return "\(path): sha256 is \(actual) but the manifest says \(expected); the file is corrupt or "
                + "changed after the bundle was written: re-push the bundle"
        case let .invalidNpy(path, reason):
            return "\(path): \(reason); write a .npy v1.0 file, C order, little endian (<f4, <f8, <i4, <i8)"
        case let .outboxOccupied(path):
            return "\(path): a results bundle already exists; delete it before running the job again"
        case let .io(path, operation, reason):
            return "\(path): \(operation) failed (\(reason)); check free space and permissions"
        }
    }
}

extension CompanionError {
    /// Whether this is a verdict on the bundle ("no, this bundle is not acceptable") rather than an environment
    /// failure such as an unreadable disk or an occupied outbox.
    public var isRefusal: Bool {
        switch self {
        case .io, .outboxOccupied: false
        default: true
        }
    }
}
