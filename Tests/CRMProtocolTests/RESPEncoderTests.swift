import CRMProtocol
import NIOCore
import Testing

@Suite struct RESPEncoderTests {
    private func encode(_ value: RESPValue, _ version: RESPVersion) -> String {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value, version: version)
        return String(buffer: buffer)
    }

    @Test func encodesScalars() {
        #expect(encode(.simpleString("OK"), .resp2) == "+OK\r\n")
        #expect(encode(.error("ERR bad"), .resp2) == "-ERR bad\r\n")
        #expect(encode(.integer(-42), .resp2) == ":-42\r\n")
        #expect(encode(.integer(0), .resp2) == ":0\r\n")
        #expect(encode(.integer(Int.max), .resp3) == ":9223372036854775807\r\n")
        #expect(encode(.integer(Int.min), .resp3) == ":-9223372036854775808\r\n")
        #expect(encode(.bulk(String(repeating: "x", count: 1234)), .resp2).hasPrefix("$1234\r\nxx"))
        #expect(encode(.bulk("héllo"), .resp2) == "$6\r\nhéllo\r\n")
    }

    @Test func degradesRESP3ShapesForRESP2() {
        let map = RESPValue.map([(.bulk("a"), .integer(1))])
        #expect(encode(map, .resp3) == "%1\r\n$1\r\na\r\n:1\r\n")
        #expect(encode(map, .resp2) == "*2\r\n$1\r\na\r\n:1\r\n")
        #expect(encode(.null, .resp3) == "_\r\n")
        #expect(encode(.null, .resp2) == "$-1\r\n")
        #expect(encode(.boolean(true), .resp3) == "#t\r\n")
        #expect(encode(.boolean(true), .resp2) == ":1\r\n")
        #expect(encode(.double(1.5), .resp3) == ",1.5\r\n")
        #expect(encode(.double(1.5), .resp2) == "$3\r\n1.5\r\n")
        #expect(encode(.push([.bulk("x")]), .resp3) == ">1\r\n$1\r\nx\r\n")
        #expect(encode(.push([.bulk("x")]), .resp2) == "*1\r\n$1\r\nx\r\n")
    }

    @Test func writesAMapDirectlyAsItsValueWouldBeEncoded() {
        for version in [RESPVersion.resp2, .resp3] {
            var bytes = ByteBuffer()
            bytes.writeRESPMapHeader(2, version: version)
            for word in ["name", "Zoë", "empty", ""] { bytes.writeRESPBulk(word) }
            let map = RESPValue.map([(.bulk("name"), .bulk("Zoë")), (.bulk("empty"), .bulk(""))])
            #expect(encode(.encoded(bytes), version) == encode(map, version))
            // Inside an aggregate (an EXEC reply), as its own bytes.
            #expect(
                encode(.array([.encoded(bytes), .integer(1)]), version) == encode(.array([map, .integer(1)]), version))
        }
    }

    @Test func writesBulkWordsInPlace() {
        var bytes = ByteBuffer()
        for word in ["name", "Zoë", "", String(repeating: "x", count: 70_000)] { bytes.writeRESPBulk(word) }
        let text = String(buffer: bytes)
        #expect(text.hasPrefix("$4\r\nname\r\n$4\r\nZoë\r\n$0\r\n\r\n$70000\r\nxxx"))
        #expect(text.hasSuffix("xxx\r\n") && bytes.readableBytes == 10 + 10 + 6 + 70_010)
    }

    @Test func keepsErrorsOnOneLine() {
        #expect(encode(.error("ERR a\r\nb"), .resp2) == "-ERR a b\r\n")
    }

    @Test func replyDecoderReadsBackWhatTheEncoderWrites() throws {
        let value = RESPValue.array([
            .bulk("x"), .integer(3), .null, .map([(.bulk("k"), .array([.simpleString("v")]))]), .error("NOTFOUND gone"),
        ])
        for version in [RESPVersion.resp3] {
            var buffer = ByteBuffer()
            buffer.writeRESPValue(value, version: version)
            var decoder = RESPReplyDecoder()
            #expect(try decoder.decode(buffer: &buffer) == value)
        }
        var partial = ByteBuffer(string: "*2\r\n$1\r\nx\r\n")
        var decoder = RESPReplyDecoder()
        #expect(try decoder.decode(buffer: &partial) == nil)
        #expect(partial.readableBytes == 11)
    }

    @Test(arguments: [0, 7, 42, -5, 1_234_567_890, Int64.max, Int64.min])
    func aDecimalWordIsTheSameBulkAsItsText(_ number: Int64) {
        var fast = ByteBuffer()
        fast.writeRESPBulk(decimal: number)
        var text = ByteBuffer()
        text.writeRESPBulk(String(number))
        #expect(fast == text, "\(String(buffer: fast))")
    }
}
