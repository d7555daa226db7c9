import NIOCore

/// What the load generator needs of a reply, read without building it:
/// whether it is an error (and its code), and an integer's value. Replies
/// are scanned in place over the read bytes, with no copies and no
/// reference counting per reply.
enum ScannedReply: Equatable {
    case integer(Int64)
    case error(code: ErrorCode)
    case other

    /// An error reply's code (`NOTFOUND`, `ERR`), kept inline so that a
    /// reply is a plain value, copied without reference counting; codes
    /// longer than 16 bytes are cut.
    struct ErrorCode: Equatable {
        private var bytes: (UInt64, UInt64) = (0, 0)
        private var count = 0

        init(_ code: UnsafeRawBufferPointer) {
            count = min(code.count, 16)
            withUnsafeMutableBytes(of: &bytes) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: code.prefix(16)))
            }
        }

        var text: String {
            var bytes = bytes
            return withUnsafeBytes(of: &bytes) { String(decoding: $0.prefix(count), as: UTF8.self) }
        }

        static func == (left: ErrorCode, right: ErrorCode) -> Bool {
            left.count == right.count && left.bytes == right.bytes
        }
    }

    struct Malformed: Error {}

    /// Appends every whole reply at the front of `buffer` to `replies`;
    /// `buffer` is left holding the start of one still arriving.
    static func scanAll(_ buffer: inout ByteBuffer, into replies: inout [ScannedReply]) throws {
        let consumed = try buffer.withUnsafeReadableBytes { bytes -> Int in
            var offset = 0
            while let (reply, end) = try scan(bytes, at: offset, depth: 0) {
                replies.append(reply)
                offset = end
            }
            return offset
        }
        buffer.moveReaderIndex(forwardBy: consumed)
    }

    /// The reply starting at `start` and the offset just past it; nil if it has not fully arrived.
    private static func scan(_ bytes: UnsafeRawBufferPointer, at start: Int, depth: Int) throws -> (
        ScannedReply, Int
    )? {
        guard depth < 32 else { throw Malformed() }
        guard start < bytes.count, let lineEnd = lineEnd(bytes, from: start) else { return nil }
        let next = lineEnd + 2
        switch bytes[start] {
        case UInt8(ascii: "-"), UInt8(ascii: "!"):
            var end = start + 1
            while end < lineEnd && bytes[end] != UInt8(ascii: " ") { end += 1 }
            return (.error(code: ErrorCode(UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<end]))), next)
        case UInt8(ascii: ":"):
            return (.integer(integer(bytes, start + 1, lineEnd) ?? 0), next)
        case UInt8(ascii: "$"), UInt8(ascii: "="):
            guard let length = integer(bytes, start + 1, lineEnd) else { throw Malformed() }
            if length < 0 { return (.other, next) }
            let end = next + Int(length) + 2
            return end <= bytes.count ? (.other, end) : nil
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = integer(bytes, start + 1, lineEnd) else { throw Malformed() }
            let paired = bytes[start] == UInt8(ascii: "%") || bytes[start] == UInt8(ascii: "|")
            var offset = next
            for _ in 0..<max(0, paired ? count * 2 : count) {
                guard let (_, end) = try scan(bytes, at: offset, depth: depth + 1) else { return nil }
                offset = end
            }
            return (.other, offset)
        default:
            return (.other, next)
        }
    }

    /// The index of the CR of the line starting at `start`, if its CRLF has arrived.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\r") && bytes[index + 1] == UInt8(ascii: "\n") { return index }
            index += 1
        }
        return nil
    }

    private static func integer(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int64? {
        guard start < end else { return nil }
        let negative = bytes[start] == UInt8(ascii: "-")
        var value: Int64 = 0
        for index in (negative ? start + 1 : start)..<end {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value &* 10 &+ Int64(digit)
        }
        return negative ? -value : value
    }
}
