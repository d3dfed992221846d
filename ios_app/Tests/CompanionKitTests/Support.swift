@testable import CompanionKit
import Foundation
import XCTest

/// A fresh folder under the system's temporary directory, removed when the test case releases it.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("companionkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Asserts that `body` throws a `CompanionError` of the given kind and returns it for further checks.
@discardableResult
func assertRefused<Value>(
    _ kind: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Value
) -> CompanionError? {
    do {
        _ = try body()
        XCTFail("expected a \(kind) refusal, got success", file: file, line: line)
        return nil
    } catch let error as CompanionError {
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected a CompanionError, got \(error)", file: file, line: line)
        return nil
    }
}

/// Writes a small, valid job bundle with CompanionKit alone (a model file, an .npy input, a JSON label list and
/// PNG-named image files), so the reader's rules can be tested one mutation at a time.
struct JobFixture {
    let root: URL
    var manifest: JobManifest

    static let jobID = "fixture-job.1"

    init(in directory: URL) throws {
        root = directory.appendingPathComponent(Self.jobID)
        let files: [String: Data] = [
            "model/Tiny.mlmodel": Data("not a real model, the reader only hashes it".utf8),
            "train/x.npy": try NpyArray(shape: [3, 2], storage: .float32([0, 1, 2, 3, 4, 5])).encoded(),
            "train/label.json": Data(#"["cat","dog","cat"]"#.utf8),
            "train/image/000000.png": pngHeader(width: 2, height: 2, tag: 0),
            "train/image/000001.png": pngHeader(width: 2, height: 2, tag: 1),
            "train/image/000002.png": pngHeader(width: 2, height: 2, tag: 2),
            "probe/x.npy": try NpyArray(shape: [1, 2], storage: .float32([7, 8])).encoded(),
        ]
        var hashes: [String: String] = [:]
        for (path, data) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
            hashes[path] = SHA256.hex(of: data)
        }
        let json = """
            {"schema_version": 1, "kind": "mlupdate.job", "job_id": "\(Self.jobID)", "created_by": "CompanionKitTests",
             "model": {"path": "model/Tiny.mlmodel", "format": "mlmodel", "sha256": "\(hashes["model/Tiny.mlmodel"]!)",
                       "kind": "neuralNetworkClassifier", "update_scope": "", "updatable_layers": ["dense_1"]},
             "parameters": {"epochs": 2, "miniBatchSize": 2, "learningRate": 0.01, "shuffle": false},
             "events": ["trainingBegin", "miniBatchEnd", "epochEnd"], "compute_units": "cpuOnly", "repeat": 2,
             "deadline_seconds": 60,
             "training": {"count": 3, "features": [
                {"name": "x", "type": "multiArray", "path": "train/x.npy", "dtype": "float32", "shape": [2]},
                {"name": "image", "type": "image", "path": "train/image", "width": 2, "height": 2, "color_space": "RGB"},
                {"name": "label", "type": "string", "path": "train/label.json"}]},
             "probe": {"count": 1, "features": [
                {"name": "x", "type": "multiArray", "path": "probe/x.npy", "dtype": "float32", "shape": [2]}]},
             "files": {}}
            """
        var manifest = try JSONDecoder().decode(JobManifest.self, from: Data(json.utf8))
        manifest.files = hashes
        self.manifest = manifest
        try save()
    }

    /// Writes the current manifest as job.json.
    func save() throws {
        try ContractJSON.encoder().encode(manifest).write(to: root.appendingPathComponent(JobManifest.fileName))
    }

    /// Replaces job.json with raw text (for fields the typed manifest cannot express).
    func saveRaw(_ transform: (inout [String: Any]) -> Void) throws {
        let url = root.appendingPathComponent(JobManifest.fileName)
        guard var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        transform(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }
}

/// The start of an 8-bit RGB PNG of `width` x `height` (signature and IHDR, all the reader looks at), with a
/// trailing `tag` byte so that files differ.
func pngHeader(width: UInt32, height: UInt32, tag: UInt8) -> Data {
    var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13])
    data.append(contentsOf: Array("IHDR".utf8))
    for value in [width, height] {
        data.append(contentsOf: [24, 16, 8, 0].map { UInt8((value >> $0) & 0xFF) })
    }
    data.append(contentsOf: [8, 2, 0, 0, 0, 0, 0, 0, 0, tag])
    return data
}
