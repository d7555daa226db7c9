import NIOCore

/// The protocol version a connection speaks; `HELLO 3` switches to RESP3.
public enum RESPVersion: Int, Sendable {
    case resp2 = 2
    case resp3 = 3
}

extension ByteBuffer {
    /// Appends `value` encoded for `version`, returning the number of bytes written.
    @discardableResult
    public mutating func writeRESPValue(_ value: RESPValue, version: RESPVersion) -> Int {
        let start = writerIndex
        encode(value, version: version)
        return writerIndex - start
    }

    private mutating func encode(_ value: RESPValue, version: RESPVersion) {
        switch value {
        case .simpleString(let text):
            writeLine(prefix: "+", Self.singleLine(text))
        case .error(let text):
            writeLine(prefix: "-", Self.singleLine(text))
        case .integer(let number):
            writeHeader(":", number)
        case .bulkString(let bytes):
            writeHeader("$", bytes.readableBytes)
            writeImmutableBuffer(bytes)
            writeCRLF()
        case .null:
            writeStaticString(version == .resp3 ? "_\r\n" : "$-1\r\n")
        case .array(let elements):
            writeAggregate("*", elements, version: version)
        case .push(let elements):
            writeAggregate(version == .resp3 ? ">" : "*", elements, version: version)
        case .map(let pairs):
            writeHeader(version == .resp3 ? "%" : "*", version == .resp3 ? pairs.count : pairs.count * 2)
            for pair in pairs {
                encode(pair.key, version: version)
                encode(pair.value, version: version)
            }
        case .double(let number):
            if version == .resp3 {
                writeLine(prefix: ",", Self.format(number))
            } else {
                encode(.bulk(Self.format(number)), version: version)
            }
        case .boolean(let flag):
            if version == .resp3 {
                writeStaticString(flag ? "#t\r\n" : "#f\r\n")
            } else {
                writeStaticString(flag ? ":1\r\n" : ":0\r\n")
            }
        case .encoded(let bytes):
            writeImmutableBuffer(bytes)
        }
    }

    private mutating func writeAggregate(_ prefix: Unicode.Scalar, _ elements: [RESPValue], version: RESPVersion) {
        writeHeader(prefix, elements.count)
        for element in elements {
            encode(element, version: version)
        }
    }

    private mutating func writeLine(prefix: String, _ text: String) {
        writeString(prefix)
        writeString(text)
        writeCRLF()
    }

    /// `prefix`, `number` in decimal and CRLF, in one write without building a
    /// String: every reply has at least one such line, and a record one per field.
    private mutating func writeHeader(_ prefix: Unicode.Scalar, _ number: Int) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: Self.headerCapacity) { out in
            Self.layOutHeader(prefix, Int64(number), at: out, from: 0)
        }
    }

    /// The most bytes a header takes: its prefix, a sign, 19 digits and CRLF.
    private static let headerCapacity = 23

    /// Lays `prefix`, `number` in decimal and CRLF out in `out` from `start`; returns where they end.
    private static func layOutHeader(
        _ prefix: Unicode.Scalar, _ number: Int64, at out: UnsafeMutableRawBufferPointer, from start: Int
    ) -> Int {
        out[start] = UInt8(ascii: prefix)
        let end = layOutDecimal(number, at: out, from: start + 1)
        out[end] = UInt8(ascii: "\r")
        out[end + 1] = UInt8(ascii: "\n")
        return end + 2
    }

    /// Lays `number` in decimal, with its sign, out in `out` from `start`; returns where it ends.
    private static func layOutDecimal(_ number: Int64, at out: UnsafeMutableRawBufferPointer, from start: Int) -> Int {
        var magnitude = number.magnitude
        let end = start + decimalLength(number)
        var position = end
        repeat {
            position -= 1
            out[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if number < 0 { out[start] = UInt8(ascii: "-") }
        return end
    }

    /// The characters `number` takes in decimal, its sign included.
    private static func decimalLength(_ number: Int64) -> Int {
        var length = number < 0 ? 2 : 1
        var rest = number.magnitude / 10
        while rest > 0 {
            length += 1
            rest /= 10
        }
        return length
    }

    private mutating func writeCRLF() {
        writeStaticString("\r\n")
    }

    /// Simple strings and errors cannot carry line breaks without breaking the framing.
    private static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            return text
        }
        return String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
    }

    private static func format(_ number: Double) -> String {
        if number.isNaN { return "nan" }
        if number.isInfinite { return number > 0 ? "inf" : "-inf" }
        return String(number)
    }
}

extension ByteBuffer {
    /// Appends a client request: an array of bulk strings.
    /// Headers are written digit by digit (``writeHeader(_:_:)``), not through a `String`: a load
    /// generator writes one per request.
    public mutating func writeRESPCommand(_ words: [String]) {
        writeRESPArrayHeader(words.count)
        for word in words { writeRESPBulk(word) }
    }

    /// `*count`: a request of `count` words follows (``writeRESPBulk(_:)`` each),
    /// or an array of a reply written directly.
    public mutating func writeRESPArrayHeader(_ count: Int) {
        writeHeader("*", count)
    }

    /// A map of `count` pairs for `version`: `%count` in RESP3, an array of
    /// `2 * count` in RESP2, as Redis degrades maps. Its keys and values follow.
    public mutating func writeRESPMapHeader(_ count: Int, version: RESPVersion) {
        writeHeader(version == .resp3 ? "%" : "*", version == .resp3 ? count : count * 2)
    }

    /// One word of a request, or a bulk string of a reply written directly: in
    /// one write (a FIND page writes hundreds; five writes each cost more than SQLite's work).
    public mutating func writeRESPBulk(_ word: String) {
        var word = word
        word.withUTF8 { writeRESPBulk(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// A bulk string of `bytes`, in one write.
    public mutating func writeRESPBulk(bytes: UnsafeRawBufferPointer) {
        _ = writeWithUnsafeMutableBytes(minimumWritableBytes: Self.headerCapacity + bytes.count + 2) { out in
            var index = Self.layOutHeader("$", Int64(bytes.count), at: out, from: 0)
            if let source = bytes.baseAddress {
                out.baseAddress!.advanced(by: index).copyMemory(from: source, byteCount: bytes.count)
            }
            index += bytes.count
            out[index] = UInt8(ascii: "\r")
            out[index + 1] = UInt8(ascii: "\n")
            return index + 2
        }
    }

    /// One word of a request: `number` in decimal, written without a `String`, in one write.
    public mutating func writeRESPBulk(decimal number: Int64) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * Self.headerCapacity) { out in
            let digits = Self.layOutHeader("$", Int64(Self.decimalLength(number)), at: out, from: 0)
            let end = Self.layOutDecimal(number, at: out, from: digits)
            out[end] = UInt8(ascii: "\r")
            out[end + 1] = UInt8(ascii: "\n")
            return end + 2
        }
    }
}
