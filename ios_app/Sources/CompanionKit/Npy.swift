import Foundation

/// Element types the contract allows in `.npy` files (little endian only).
public enum NpyDType: String, Sendable, CaseIterable {
    case float32 = "<f4"
    case float64 = "<f8"
    case int32 = "<i4"
    case int64 = "<i8"

    public var itemSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }
}

/// A dense C-order array read from or written to a `.npy` version 1.0 file.
public struct NpyArray: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case float32([Float])
        case float64([Double])
        case int32([Int32])
        case int64([Int64])
    }

    public let shape: [Int]
    public let storage: Storage

    public init(shape: [Int], storage: Storage) throws(CompanionError) {
        guard let expected = Limits.elementCount(shape), expected == storage.count else {
            throw .invalidNpy(path: "(in memory)", reason: "shape \(shape) does not hold \(storage.count) values")
        }
        self.shape = shape
        self.storage = storage
    }

    public var dtype: NpyDType {
        switch storage {
        case .float32: .float32
        case .float64: .float64
        case .int32: .int32
        case .int64: .int64
        }
    }

    /// Every value as a Double (exact for all but int64 values beyond 2^53).
    public var doubles: [Double] {
        switch storage {
        case let .float32(values): values.map(Double.init)
        case let .float64(values): values
        case let .int32(values): values.map(Double.init)
        case let .int64(values): values.map(Double.init)
        }
    }
}

extension NpyArray.Storage {
    public var count: Int {
        switch self {
        case let .float32(values): values.count
        case let .float64(values): values.count
        case let .int32(values): values.count
        case let .int64(values): values.count
        }
    }
}

// MARK: - Reading

extension NpyArray {
    private static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]

    public static func read(from url: URL, displayPath: String? = nil) throws(CompanionError) -> NpyArray {
        let path = displayPath ?? url.lastPathComponent
        let (_, _, _) = try header(ofFileAt: url, path: path)  // refuses a huge shape before reading the data
        let data = try BoundedFile.read(url, limit: Limits.tensorBytes, path: path)
        return try decode(data, path: path)
    }

    /// The dtype and shape of the `.npy` file at `url`, reading only its header; the file's size must be the
    /// header's plus exactly the data its shape and dtype need (as when the whole file is decoded).
    public static func header(ofFileAt url: URL, path: String) throws(CompanionError) -> (NpyDType, [Int], Int) {
        guard BundlePath.entry(at: url) == .file else { throw .missingFile(path: path) }
        let prefix: Data
        let size: UInt64
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            prefix = try handle.read(upToCount: 10 + Int(UInt16.max)) ?? Data()
            size = try handle.seekToEnd()
        } catch {
            throw .io(path: path, operation: "read .npy header", reason: error.localizedDescription)
        }
        let (dtype, shape, offset) = try header(of: prefix, path: path)
        // `header` refused shapes above Limits.tensorElements, so the product cannot overflow.
        let needed = (Limits.elementCount(shape) ?? 0) * dtype.itemSize
        guard size >= UInt64(offset), size - UInt64(offset) == UInt64(needed) else {
            throw .invalidNpy(
                path: path,
                reason: "shape \(shape) of \(dtype.rawValue) needs \(needed) data bytes, "
                    + "the file has \(size >= UInt64(offset) ? size - UInt64(offset) : 0)")
        }
        return (dtype, shape, offset)
    }

    /// Parses `.npy` bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws(CompanionError) -> NpyArray {
        let (dtype, shape, offset) = try header(of: data, path: path)
        // `header` refused shapes above Limits.tensorElements, so these products cannot overflow.
        let count = Limits.elementCount(shape) ?? 0
        let payload = data.count - offset
        guard payload == count * dtype.itemSize else {
            throw .invalidNpy(
                path: path,
                reason: "shape \(shape) of \(dtype.rawValue) needs \(count * dtype.itemSize) data bytes, "
                    + "the file has \(payload)"
            )
        }
        let bytes = data.subdata(in: data.startIndex + offset..<data.endIndex)
        let storage: Storage =
            switch dtype {
            case .float32: .float32(littleEndian(bytes, count: count, as: UInt32.self).map(Float.init(bitPattern:)))
            case .float64: .float64(littleEndian(bytes, count: count, as: UInt64.self).map(Double.init(bitPattern:)))
            case .int32: .int32(littleEndian(bytes, count: count, as: UInt32.self).map(Int32.init(bitPattern:)))
            case .int64: .int64(littleEndian(bytes, count: count, as: UInt64.self).map(Int64.init(bitPattern:)))
            }
        return try NpyArray(shape: shape, storage: storage)
    }

    /// The dtype and shape of a `.npy` file and where its data starts, without decoding the data.
    public static func header(of data: Data, path: String) throws(CompanionError) -> (NpyDType, [Int], Int) {
        let bytes = [UInt8](data.prefix(10))
        guard bytes.count == 10, Array(bytes[0..<6]) == magic else {
            throw .invalidNpy(path: path, reason: "not a .npy file (magic string missing)")
        }
        guard bytes[6] == 1, bytes[7] == 0 else {
            throw .invalidNpy(path: path, reason: "format version \(bytes[6]).\(bytes[7]) is not 1.0")
        }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        guard data.count >= 10 + headerLength,
            let text = String(
                data: data.subdata(in: data.startIndex + 10..<data.startIndex + 10 + headerLength),
                encoding: .ascii)
        else {
            throw .invalidNpy(path: path, reason: "header is truncated or not ASCII")
        }
        var parser = HeaderParser(text: text, path: path)
        let fields = try parser.parseDictionary()
        guard Set(fields.keys) == ["descr", "fortran_order", "shape"] else {
            throw .invalidNpy(
                path: path, reason: "header keys \(fields.keys.sorted()) are not descr, fortran_order, shape")
        }
        guard case let .string(descr)? = fields["descr"], let dtype = NpyDType(rawValue: descr) else {
            throw .invalidNpy(path: path, reason: "dtype \(fields["descr"].map { "\($0)" } ?? "?") is not allowed")
        }
        guard case .bool(false)? = fields["fortran_order"] else {
            throw .invalidNpy(path: path, reason: "array is in Fortran order, the contract needs C order")
        }
        guard case let .tuple(shape)? = fields["shape"], shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidNpy(path: path, reason: "shape is not a tuple of non-negative integers")
        }
        guard shape.count <= Limits.tensorDimensions else {
            throw .invalidNpy(
                path: path,
                reason: "the tensor has \(shape.count) dimensions, more than the \(Limits.tensorDimensions) this reader accepts")
        }
        guard Limits.elementCount(shape) != nil else {
            throw .invalidNpy(
                path: path, reason: "shape \(shape) declares more than \(Limits.tensorElements) elements")
        }
        return (dtype, shape, 10 + headerLength)
    }

    private static func littleEndian<Word: FixedWidthInteger>(_ bytes: Data, count: Int, as _: Word.Type) -> [Word] {
        bytes.withUnsafeBytes { raw in
            (0..<count).map {
                Word(
                    littleEndian: raw.loadUnaligned(
                        fromByteOffset: $0 * MemoryLayout<Word>.size,
                        as: Word.self))
            }
        }
    }
}

/// The Python dict literal in a `.npy` header: string, boolean and integer-tuple values are all it holds.
private struct HeaderParser {
    enum Value: Equatable, CustomStringConvertible {
        case string(String)
        case bool(Bool)
        case tuple([Int])

        var description: String {
            switch self {
            case let .string(value): "'\(value)'"
            case let .bool(value): value ? "True" : "False"
            case let .tuple(values): "(\(values.map(String.init).joined(separator: ", ")))"
            }
        }
    }

    let characters: [Character]
    let path: String
    var index = 0

    init(text: String, path: String) {
        characters = Array(text)
        self.path = path
    }

    mutating func parseDictionary() throws(CompanionError) -> [String: Value] {
        try expect("{")
        var fields: [String: Value] = [:]
        while true {
            skipSpace()
            if peek() == "}" { break }
            guard case let .string(key) = try parseValue() else { throw failure("expected a quoted key") }
            try expect(":")
            fields[key] = try parseValue()
            skipSpace()
            if peek() == "," { index += 1 } else { break }
        }
        try expect("}")
        skipSpace()
        guard index == characters.count else { throw failure("unexpected text after the header dictionary") }
        return fields
    }

    private mutating func parseValue() throws(CompanionError) -> Value {
        skipSpace()
        switch peek() {
        case "'", "\"":
            let quote = characters[index]
            index += 1
            let start = index
            while index < characters.count, characters[index] != quote {
                index += 1
            }
            guard index < characters.count else { throw failure("unterminated string") }
            defer { index += 1 }
            return .string(String(characters[start..<index]))
        case "(":
            index += 1
            var values: [Int] = []
            var commas = 0
            while true {
                skipSpace()
                if peek() == ")" { break }
                values.append(try parseInteger())
                skipSpace()
                if peek() == "," {
                    index += 1
                    commas += 1
                } else {
                    break
                }
            }
            try expect(")")
            // Python's `(3)` is the integer 3, not a tuple: a one-element tuple needs its comma, `(3,)`.
            guard values.count != 1 || commas == 1 else { throw failure("a one-element shape needs a comma") }
            return .tuple(values)
        default:
            if consume("True") { return .bool(true) }
            if consume("False") { return .bool(false) }
            throw failure("unexpected value")
        }
    }

    private mutating func parseInteger() throws(CompanionError) -> Int {
        let start = index
        while index < characters.count, characters[index].isASCII, characters[index].isNumber {
            index += 1
        }
        guard index > start, let value = Int(String(characters[start..<index])) else {
            throw failure("expected an integer")
        }
        return value
    }

    private mutating func expect(_ character: Character) throws(CompanionError) {
        skipSpace()
        guard peek() == character else { throw failure("expected '\(character)'") }
        index += 1
    }

    private mutating func consume(_ word: String) -> Bool {
        let end = index + word.count
        guard end <= characters.count, String(characters[index..<end]) == word else { return false }
        index = end
        return true
    }

    private mutating func skipSpace() {
        while index < characters.count, characters[index].isWhitespace {
            index += 1
        }
    }

    private func peek() -> Character? {
        index < characters.count ? characters[index] : nil
    }

    private func failure(_ reason: String) -> CompanionError {
        .invalidNpy(path: path, reason: "header is not a valid dictionary (\(reason) at character \(index))")
    }
}

// MARK: - Writing

extension NpyArray {
    /// `.npy` version 1.0 bytes, header padded with spaces so the data starts on a 64-byte boundary like numpy.
    public func encoded() -> Data {
        let dimensions = shape.map(String.init).joined(separator: ", ")
        let shapeText = shape.count == 1 ? "(\(dimensions),)" : "(\(dimensions))"
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        switch storage {
        case let .float32(values): Self.append(values.map(\.bitPattern), to: &data)
        case let .float64(values): Self.append(values.map(\.bitPattern), to: &data)
        case let .int32(values): Self.append(values.map { UInt32(bitPattern: $0) }, to: &data)
        case let .int64(values): Self.append(values.map { UInt64(bitPattern: $0) }, to: &data)
        }
        return data
    }

    private static func append<Word: FixedWidthInteger>(_ words: [Word], to data: inout Data) {
        var littleEndian = words.map(\.littleEndian)
        littleEndian.withUnsafeMutableBytes { data.append(contentsOf: $0) }
    }
}
