/// A validated tenant name. Names become database file names, so only
/// `a-z 0-9 _ -`, 1 to 63 characters, starting with a letter or digit.
public struct TenantName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init(_ raw: String) throws(InvalidField) {
        let bytes = Array(raw.utf8)
        guard (1...63).contains(bytes.count) else {
            throw InvalidField("name", "must be 1-63 characters")
        }
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "_"), UInt8(ascii: "-"): !first
            default: false
            }
        }
        for (offset, byte) in bytes.enumerated() where !allowed(byte, first: offset == 0) {
            throw InvalidField("name", "must be 1-63 of a-z 0-9 _ - starting with a letter or digit")
        }
        value = raw
    }

    public var description: String { value }
}
