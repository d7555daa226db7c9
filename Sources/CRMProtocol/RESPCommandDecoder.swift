import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// An incremental decoder of client requests: RESP arrays of bulk strings, or
/// inline commands (a line of words with Redis's quoting rules).
///
/// The decoder keeps its place between calls, so a large command arriving in
/// small pieces is scanned once, and it never trusts a client's counts beyond
/// ``ProtocolLimits``: arguments are taken as slices of the inbound buffer and
/// capacity is reserved for at most 1,024 of them up front.
public struct RESPCommandDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPCommand

    private enum State {
        case idle
        /// Inside a multibulk: `remaining` arguments still to read.
        case readingArguments(remaining: Int)
        /// Waiting for `length` bytes of a bulk string plus its CRLF.
        case readingBulk(length: Int, remaining: Int)
    }

    private let limits: ProtocolLimits
    private var state = State.idle
    private var arguments: [ByteBuffer] = []
    private var pendingBytes = 0
    /// How far an inline line has already been searched for its newline.
    private var inlineScanned = 0

    public init(limits: ProtocolLimits = .default) {
        self.limits = limits
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPCommand? {
        try next(from: &buffer)
    }

    /// The next whole command in `buffer`, consuming its bytes, or nil if it has not all arrived.
    public mutating func next(from buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPCommand? {
        while true {
            switch state {
            case .idle:
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                if first == UInt8(ascii: "*") {
                    guard let count = try readHeader(&buffer, kind: "multibulk count") else { return nil }
                    guard count <= limits.maxArguments else { throw RESPProtocolError("invalid multibulk length") }
                    if count <= 0 { continue }
                    arguments.removeAll(keepingCapacity: true)
                    arguments.reserveCapacity(min(count, 1024))
                    pendingBytes = 0
                    state = .readingArguments(remaining: count)
                } else {
                    guard let words = try readInline(&buffer) else { return nil }
                    if words.isEmpty { continue }
                    return RESPCommand(arguments: words)
                }
            case .readingArguments(let remaining):
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                guard first == UInt8(ascii: "$") else {
                    throw RESPProtocolError("expected '$', got '\(Self.printable(first))'")
                }
                guard let length = try readHeader(&buffer, kind: "bulk length") else { return nil }
                guard length >= 0, length <= limits.maxBulkLength else {
                    throw RESPProtocolError("invalid bulk length")
                }
                state = .readingBulk(length: length, remaining: remaining)
            case .readingBulk(let length, let remaining):
                if buffer.readableBytes < length + 2 {
                    try checkPending(pendingBytes + buffer.readableBytes)
                    return nil
                }
                guard
                    buffer.getInteger(at: buffer.readerIndex + length, as: UInt8.self) == UInt8(ascii: "\r"),
                    buffer.getInteger(at: buffer.readerIndex + length + 1, as: UInt8.self) == UInt8(ascii: "\n")
                else {
                    throw RESPProtocolError("bulk string not terminated by CRLF")
                }
                let argument = buffer.readSlice(length: length)!
                buffer.moveReaderIndex(forwardBy: 2)
                arguments.append(argument)
                pendingBytes += length
                try checkPending(pendingBytes)
                if remaining > 1 {
                    state = .readingArguments(remaining: remaining - 1)
                } else {
                    state = .idle
                    let command = RESPCommand(arguments: arguments)
                    arguments = []
                    pendingBytes = 0
                    return command
                }
            }
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPCommand? {
        try decode(buffer: &buffer)
    }

    private func checkPending(_ bytes: Int) throws(RESPProtocolError) {
        if bytes > limits.maxPendingBytes {
            throw RESPProtocolError("request exceeds the client's pending byte limit")
        }
    }

    /// What the bytes at the reader index hold of a header line.
    private enum HeaderLine {
        case incomplete
        case tooLong
        case invalid
        /// The header's number and the bytes its line takes, CRLF included.
        case complete(value: Int, length: Int)
    }

    /// Reads a `*<n>\r\n` or `$<n>\r\n` header, returning `n`, or nil if the line is incomplete.
    /// The line is searched and parsed in the buffer's own bytes (`memchr`): a command has a header
    /// per argument, and stepping through a `ByteBufferView` was a tenth of a pipelined read's time.
    private func readHeader(_ buffer: inout ByteBuffer, kind: String) throws(RESPProtocolError) -> Int? {
        let line = buffer.withUnsafeReadableBytes { bytes -> HeaderLine in
            let searched = min(bytes.count, limits.maxInlineLength)
            guard searched > 0, let start = bytes.baseAddress,
                let found = memchr(start, Int32(UInt8(ascii: "\n")), searched)
            else { return bytes.count > limits.maxInlineLength ? .tooLong : .incomplete }
            let newline = start.distance(to: UnsafeRawPointer(found))
            let lineEnd = newline - 1
            guard lineEnd > 0, bytes[lineEnd] == UInt8(ascii: "\r"),
                let value = Self.parseInteger(bytes[1..<lineEnd])
            else { return .invalid }
            return .complete(value: value, length: newline + 1)
        }
        switch line {
        case .incomplete: return nil
        case .tooLong: throw RESPProtocolError("too big \(kind) string")
        case .invalid: throw RESPProtocolError("invalid \(kind)")
        case .complete(let value, let length):
            buffer.moveReaderIndex(forwardBy: length)
            return value
        }
    }

    /// Reads one inline line and splits it into words; nil if the line is incomplete.
    private mutating func readInline(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> [ByteBuffer]? {
        let view = buffer.readableBytesView
        let scanStart = view.index(view.startIndex, offsetBy: min(inlineScanned, view.count))
        guard let newline = view[scanStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            inlineScanned = view.count
            if view.count > limits.maxInlineLength {
                throw RESPProtocolError("too big inline request")
            }
            return nil
        }
        inlineScanned = 0
        let length = newline - view.startIndex
        if length > limits.maxInlineLength {
            throw RESPProtocolError("too big inline request")
        }
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        guard let words = InlineCommandSplitter.split(line.readableBytesView) else {
            throw RESPProtocolError("unbalanced quotes in request")
        }
        guard words.count <= limits.maxArguments else {
            throw RESPProtocolError("too many arguments in inline request")
        }
        return words.map { ByteBuffer(bytes: $0) }
    }

    /// Parses an optionally negative decimal integer from ASCII digits, rejecting anything else.
    static func parseInteger<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int? {
        var iterator = bytes.makeIterator()
        guard var byte = iterator.next() else { return nil }
        let negative = byte == UInt8(ascii: "-")
        if negative {
            guard let next = iterator.next() else { return nil }
            byte = next
        }
        var value = 0
        var digits = 0
        while true {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            digits += 1
            guard digits <= 18 else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            guard let next = iterator.next() else { break }
            byte = next
        }
        return negative ? -value : value
    }

    private static func printable(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
