import NIOCore

/// Decodes server replies (any RESP2 or RESP3 value), for clients and tests.
///
/// Replies come from a trusted server, so this decoder re-parses a partial
/// value from its start when more bytes arrive; it still rejects malformed
/// input rather than guessing.
public struct RESPReplyDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let maxDepth = 64

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try parseValue(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    private func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth < maxDepth else { throw RESPProtocolError("reply nested too deeply") }
        guard let marker = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard let line = try readLine(&buffer) else { return nil }
        let text = String(decoding: line.dropFirst(), as: UTF8.self)
        switch marker {
        case UInt8(ascii: "+"): return .simpleString(text)
        case UInt8(ascii: "-"), UInt8(ascii: "!"): return .error(text)
        case UInt8(ascii: ":"), UInt8(ascii: "("):
            guard let value = Int(text) else { throw RESPProtocolError("invalid integer reply") }
            return .integer(value)
        case UInt8(ascii: ","):
            guard let value = Double(text) else { throw RESPProtocolError("invalid double reply") }
            return .double(value)
        case UInt8(ascii: "#"): return .boolean(text == "t")
        case UInt8(ascii: "_"): return .null
        case UInt8(ascii: "$"), UInt8(ascii: "="):
            guard let length = Int(text) else { throw RESPProtocolError("invalid bulk length") }
            if length < 0 { return .null }
            guard buffer.readableBytes >= length + 2 else { return nil }
            let bytes = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulkString(bytes)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = Int(text) else { throw RESPProtocolError("invalid array length") }
            if count < 0 { return .null }
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let element = try parseValue(&buffer, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return marker == UInt8(ascii: ">") ? .push(elements) : .array(elements)
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = Int(text), count >= 0 else { throw RESPProtocolError("invalid map length") }
            var pairs: [(key: RESPValue, value: RESPValue)] = []
            for _ in 0..<count {
                guard let key = try parseValue(&buffer, depth: depth + 1),
                    let value = try parseValue(&buffer, depth: depth + 1)
                else { return nil }
                pairs.append((key, value))
            }
            if marker == UInt8(ascii: "|") {
                return try parseValue(&buffer, depth: depth)
            }
            return .map(pairs)
        default:
            throw RESPProtocolError("unknown reply type '\(UnicodeScalar(marker))'")
        }
    }

    private func readLine(_ buffer: inout ByteBuffer) throws -> [UInt8]? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        guard newline > view.startIndex, view[newline - 1] == UInt8(ascii: "\r") else {
            throw RESPProtocolError("reply line not terminated by CRLF")
        }
        let line = buffer.readBytes(length: newline - view.startIndex - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}
