import Foundation

/// A coding key for any field name, used to see the keys a JSON object really has.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int? = nil

    init(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue _: Int) {
        nil
    }
}

extension Decoder {
    /// Refuses fields the contract does not define: `JSONDecoder` silently drops them, but the contract says
    /// a typo must fail loudly (the Python schemas set `additionalProperties: false`).
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws {
        let allowed = Set(Keys.allCases.map(\.stringValue))
        let present = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        if let unknown = present.sorted().first(where: { !allowed.contains($0) }) {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: codingPath + [AnyCodingKey(stringValue: unknown)],
                    debugDescription:
                        "is not a field of the contract (allowed: \(allowed.sorted().joined(separator: ", ")))"
                ))
        }
    }
}

/// One JSON encoder/decoder configuration for every manifest, so both directions agree.
public enum ContractJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    /// Compact output, for one JSON value per line.
    public static func lineEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        JSONDecoder()
    }

    /// Decodes `data` from `file`, turning Foundation's decoding errors into `invalidManifest` naming the field.
    public static func decode<Value: Decodable>(
        _: Value.Type, from data: Data, file: String
    ) throws(CompanionError) -> Value {
        try StrictJSON.check(data, file: file)
        do {
            return try decoder().decode(Value.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, file: file)
        } catch {
            throw .invalidManifest(file: file, field: "(document)", reason: "is not valid JSON: \(error)")
        }
    }

    private static func describe(_ error: DecodingError, file: String) -> CompanionError {
        func field(_ path: [any CodingKey]) -> String {
            let joined = path.reduce(into: "") { text, key in
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return joined.isEmpty ? "(document)" : joined
        }
        switch error {
        case let .keyNotFound(key, context):
            return .invalidManifest(file: file, field: field(context.codingPath + [key]), reason: "is missing")
        case let .typeMismatch(type, context):
            return .invalidManifest(file: file, field: field(context.codingPath), reason: "is not a \(type)")
        case let .valueNotFound(type, context):
            return .invalidManifest(file: file, field: field(context.codingPath), reason: "is null, expected \(type)")
        case let .dataCorrupted(context):
            return .invalidManifest(file: file, field: field(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .invalidManifest(file: file, field: "(document)", reason: "\(error)")
        }
    }
}
