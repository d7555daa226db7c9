import NIOCore

/// A reply value in the RESP3 type system.
///
/// Values are written for the connection's negotiated protocol version by
/// ``RESPEncoder``: RESP3-only shapes (maps, nulls, booleans, doubles, pushes)
/// degrade to their RESP2 equivalents exactly as Redis degrades them.
public enum RESPValue: Sendable {
    case simpleString(String)
    /// An error reply: a stable upper-case code, a space, then a sentence.
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])
    case map([(key: RESPValue, value: RESPValue)])
    case double(Double)
    case boolean(Bool)
    case push([RESPValue])
    /// A reply a command wrote as bytes itself, for the connection's protocol
    /// version (with ``NIOCore/ByteBuffer/writeRESPMapHeader(_:version:)`` and
    /// the other `writeRESP` helpers): a large reply of a known shape, such as
    /// a page of records, builds no value per field.
    case encoded(ByteBuffer)

    /// A bulk string holding the UTF-8 bytes of `string`.
    public static func bulk(_ string: String) -> RESPValue {
        .bulkString(ByteBuffer(string: string))
    }

    /// `+OK`.
    public static let ok = RESPValue.simpleString("OK")

    /// The text of a simple string, bulk string, error, or integer, if it is one.
    public var string: String? {
        switch self {
        case .simpleString(let text), .error(let text): text
        case .bulkString(let buffer): String(buffer: buffer)
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The elements of an array, set or push reply.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values), .push(let values): values
        default: nil
        }
    }

    /// The error text if this is an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

extension RESPValue: Equatable {
    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)): a == b
        case (.error(let a), .error(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.bulkString(let a), .bulkString(let b)): a == b
        case (.null, .null): true
        case (.array(let a), .array(let b)): a == b
        case (.push(let a), .push(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.boolean(let a), .boolean(let b)): a == b
        case (.encoded(let a), .encoded(let b)): a == b
        case (.map(let a), .map(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }
}
