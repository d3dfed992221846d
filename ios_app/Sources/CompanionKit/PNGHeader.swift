import Foundation

/// The size and colour type of a job's PNG, read from its header (signature + IHDR) only: the job must hold 8-bit
/// grayscale or RGB pictures at exactly the model's size, as the Python reader checks (with Pillow) before it
/// decodes anything.
enum PNGHeader {
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func check(_ url: URL, path: String, width: Int, height: Int, grayscale: Bool) throws(CompanionError) {
        guard BundlePath.entry(at: url) == .file else { throw .missingFile(path: path) }
        let header: [UInt8]
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            header = [UInt8](try handle.read(upToCount: 33) ?? Data())
        } catch {
            throw .io(path: path, operation: "read PNG header", reason: error.localizedDescription)
        }
        func refuse(_ reason: String) -> CompanionError {
            .invalidManifest(file: path, field: "(image)", reason: reason)
        }
        guard header.count == 33, Array(header[0..<8]) == signature, Array(header[12..<16]) == Array("IHDR".utf8)
        else { throw refuse("is not a readable PNG") }
        func u32(_ offset: Int) -> Int {
            header[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        let (foundWidth, foundHeight, depth, colorType) = (u32(16), u32(20), header[24], header[25])
        let mode = depth == 8 && colorType == 0 ? "L" : depth == 8 && colorType == 2 ? "RGB" : "other"
        let wanted = grayscale ? "L" : "RGB"
        guard mode == wanted, foundWidth == width, foundHeight == height else {
            throw refuse("PNG is \(mode) \(foundWidth)x\(foundHeight), the manifest says \(wanted) \(width)x\(height)")
        }
    }
}
