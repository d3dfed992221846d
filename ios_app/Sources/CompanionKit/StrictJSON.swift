import Foundation

/// The JSON rules `JSONDecoder` does not enforce, checked on the raw bytes before decoding, exactly as the Python
/// reader's `parse_json` does: UTF-8, nesting at most `Limits.jsonDepth` deep, no key twice in one object (also
/// not two keys that are equal after Unicode normalisation: Swift's dictionaries would merge them silently),
/// and no `\uXXXX` escape that spells an unpaired UTF-16 surrogate.
///
/// It is a scanner, not a parser: it walks the bytes once without recursion and leaves the grammar to
/// `JSONDecoder`, which runs next.
enum StrictJSON {
    static func check(_ data: Data, file: String) throws(CompanionError) {
        func refuse(_ field: String, _ reason: String) -> CompanionError {
            .invalidManifest(file: file, field: field, reason: reason)
        }
        guard String(data: data, encoding: .utf8) != nil else { throw refuse("(document)", "is not valid UTF-8") }
        guard !data.starts(with: [0xEF, 0xBB, 0xBF]) else {
            throw refuse("(document)", "starts with a byte-order mark; write UTF-8 without one")
        }
        let bytes = [UInt8](data)
        // One frame per open array/object: the keys seen so far, and whether the next string is a key.
        var frames: [(isObject: Bool, keys: Set<String>, expectKey: Bool)] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard frames.count < Limits.jsonDepth else {
                    throw refuse("(document)", "nests deeper than \(Limits.jsonDepth) levels")
                }
                frames.append((byte == UInt8(ascii: "{"), [], byte == UInt8(ascii: "{")))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
                index += 1
            case UInt8(ascii: ","):
                if let last = frames.indices.last, frames[last].isObject { frames[last].expectKey = true }
                index += 1
            case UInt8(ascii: "\""):
                let (text, end) = try string(bytes, from: index, file: file)
                if let last = frames.indices.last, frames[last].isObject, frames[last].expectKey {
                    guard frames[last].keys.insert(text).inserted else {
                        throw refuse(text, "appears twice in one object (or twice after Unicode normalisation)")
                    }
                    frames[last].expectKey = false
                }
                index = end
            default:
                index += 1
            }
        }
    }

    /// The decoded string starting at the quote `bytes[start]` and the index after its closing quote.
    private static func string(_ bytes: [UInt8], from start: Int, file: String) throws(CompanionError) -> (String, Int) {
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        var index = start + 1
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll(keepingCapacity: true)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                flush()
                return (String(scalars), index + 1)
            }
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                raw.append(byte)
                index += 1
                continue
            }
            flush()
            let escape = bytes[index + 1]
            if escape != UInt8(ascii: "u") {
                scalars.append(Unicode.Scalar(simpleEscape(escape)))
                index += 2
                continue
            }
            guard let unit = hex4(bytes, at: index + 2) else { return (String(scalars), index + 2) }  // the decoder refuses it
            index += 6
            switch unit {
            case 0xD800...0xDBFF:
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                    let low = hex4(bytes, at: index + 2), (0xDC00...0xDFFF).contains(low)
                else { throw loneSurrogate(file) }
                index += 6
                let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
            case 0xDC00...0xDFFF:
                throw loneSurrogate(file)
            default:
                if let scalar = Unicode.Scalar(unit) { scalars.append(scalar) }
            }
        }
        flush()
        return (String(scalars), index)
    }

    private static func loneSurrogate(_ file: String) -> CompanionError {
        .invalidManifest(
            file: file, field: "(document)",
            reason: "a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is no character")
    }

    private static func simpleEscape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: byte
        }
    }

    private static func hex4(_ bytes: [UInt8], at start: Int) -> UInt32? {
        guard start + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[start..<start + 4] {
            guard let digit = hexDigit(byte) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
