import NIOCore

/// What the load generator needs of a reply, read without building it:
/// whether it is an error (and its code), and an integer's value.
enum ScannedReply: Equatable {
    case integer(Int64)
    case error(code: String)
    case other

    /// Skips one whole RESP2/RESP3 value in `buffer`; nil (and `buffer`
    /// untouched) if it has not fully arrived.
    static func scan(_ buffer: inout ByteBuffer) throws -> ScannedReply? {
        var copy = buffer
        guard let reply = try scanValue(&copy, depth: 0) else { return nil }
        buffer = copy
        return reply
    }

    struct Malformed: Error {}

    private static func scanValue(_ buffer: inout ByteBuffer, depth: Int) throws -> ScannedReply? {
        guard depth < 32 else { throw Malformed() }
        guard let marker = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let line = readLine(&buffer)
        else { return nil }
        switch marker {
        case UInt8(ascii: "-"), UInt8(ascii: "!"):
            let text = line.readableBytesView.dropFirst()
            let code = text.prefix { $0 != UInt8(ascii: " ") }
            return .error(code: String(decoding: code, as: UTF8.self))
        case UInt8(ascii: ":"):
            return .integer(integer(line) ?? 0)
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard let length = integer(line) else { throw Malformed() }
            if length < 0 { return .other }
            guard buffer.readableBytes >= Int(length) + 2 else { return nil }
            buffer.moveReaderIndex(forwardBy: Int(length) + 2)
            return .other
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = integer(line) else { throw Malformed() }
            let elements = marker == UInt8(ascii: "%") || marker == UInt8(ascii: "|") ? count * 2 : count
            for _ in 0..<max(0, elements) {
                guard try scanValue(&buffer, depth: depth + 1) != nil else { return nil }
            }
            return .other
        default:
            return .other
        }
    }

    /// The line up to CRLF (the marker included), consumed with its CRLF.
    private static func readLine(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")), newline > view.startIndex else { return nil }
        let length = newline - view.startIndex - 1
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)
        buffer.moveReaderIndex(forwardBy: length + 2)
        return line
    }

    private static func integer(_ line: ByteBuffer) -> Int64? {
        var value: Int64 = 0
        var negative = false
        for (index, byte) in line.readableBytesView.dropFirst().enumerated() {
            if index == 0 && byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value &* 10 &+ Int64(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }
}
