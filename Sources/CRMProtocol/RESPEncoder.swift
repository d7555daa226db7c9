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
            Self.layOutHeader(prefix, Int64(number), at: out)
        }
    }

    /// The most bytes a header takes: its prefix, a sign, 19 digits and CRLF.
    private static let headerCapacity = 23

    /// Lays `prefix`, `number` in decimal and CRLF out at the start of `out`
    /// (``headerCapacity`` bytes at least); returns how many bytes they took.
    private static func layOutHeader(_ prefix: Unicode.Scalar, _ number: Int64, at out: UnsafeMutableRawBufferPointer)
        -> Int
    {
        out[0] = UInt8(ascii: prefix)
        var index = 1
        if number < 0 {
            out[index] = UInt8(ascii: "-")
            index += 1
        }
        var magnitude = number.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        index += digits
        var position = index
        repeat {
            position -= 1
            out[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        out[index] = UInt8(ascii: "\r")
        out[index + 1] = UInt8(ascii: "\n")
        return index + 2
    }

    /// Hands `body` the decimal digits of `number` (with its sign), formatted on the stack.
    private static func withDecimal(_ number: Int64, _ body: (UnsafeRawBufferPointer) -> Void) {
        var magnitude = number.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for the 20 digits and sign of any Int64
        let count = withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if number < 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "-")
            }
            return buffer.count - index
        }
        withUnsafeBytes(of: &digits) { body(UnsafeRawBufferPointer(rebasing: $0.suffix(count))) }
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
        _ = word.withUTF8 { text in
            writeWithUnsafeMutableBytes(minimumWritableBytes: Self.headerCapacity + text.count + 2) { out in
                var index = Self.layOutHeader("$", Int64(text.count), at: out)
                if let source = UnsafeRawBufferPointer(text).baseAddress {
                    out.baseAddress!.advanced(by: index).copyMemory(from: source, byteCount: text.count)
                }
                index += text.count
                out[index] = UInt8(ascii: "\r")
                out[index + 1] = UInt8(ascii: "\n")
                return index + 2
            }
        }
    }

    /// One word of a request: `number` in decimal, written without a `String`,
    /// in one write (`$`, length, CRLF, digits, CRLF are laid out on the stack first).
    public mutating func writeRESPBulk(decimal number: Int64) {
        Self.withDecimal(number) { digits in
            // At most 21 digits and sign: "$21\r\n" + 21 + "\r\n" fits in 32 bytes.
            var frame: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let count = withUnsafeMutableBytes(of: &frame) { out in
                var index = 0
                out[index] = UInt8(ascii: "$")
                index += 1
                if digits.count >= 10 {
                    out[index] = UInt8(ascii: "0") + UInt8(digits.count / 10)
                    index += 1
                }
                out[index] = UInt8(ascii: "0") + UInt8(digits.count % 10)
                out[index + 1] = UInt8(ascii: "\r")
                out[index + 2] = UInt8(ascii: "\n")
                index += 3
                UnsafeMutableRawBufferPointer(rebasing: out[index..<(index + digits.count)]).copyMemory(from: digits)
                index += digits.count
                out[index] = UInt8(ascii: "\r")
                out[index + 1] = UInt8(ascii: "\n")
                return index + 2
            }
            withUnsafeBytes(of: &frame) { _ = writeBytes(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
    }
}
