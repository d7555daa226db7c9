import CRMProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct RESPCommandDecoderTests {
    private func command(_ words: String...) -> RESPCommand {
        RESPCommand(words)
    }

    @Test func decodesMultibulkAndInlineAtEveryByteBoundary() throws {
        let cases: [(String, [RESPCommand])] = [
            ("*1\r\n$4\r\nPING\r\n", [command("PING")]),
            ("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [command("SET", "k", "")]),
            ("PING\r\n", [command("PING")]),
            ("CONTACT.ADD email \"a b\" notes 'it s'\n", [command("CONTACT.ADD", "email", "a b", "notes", "it s")]),
            ("*2\r\n$4\r\nECHO\r\n$5\r\nhe\r\nl\r\nPING\r\n", [command("ECHO", "he\r\nl"), command("PING")]),
        ]
        for (wire, expected) in cases {
            try ByteToMessageDecoderVerifier.verifyDecoder(
                inputOutputPairs: [(ByteBuffer(string: wire), expected)],
                decoderFactory: { RESPCommandDecoder() }
            )
        }
    }

    @Test func decodesPipelinedCommandsFromOneBuffer() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer()
        for index in 0..<500 {
            buffer.writeRESPCommand(["CONTACT.GET", String(index)])
        }
        buffer.writeString("PING\r\n")
        var decoded: [RESPCommand] = []
        while let next = try decoder.decode(buffer: &buffer) {
            decoded.append(next)
        }
        #expect(decoded.count == 501)
        #expect(decoded[499] == RESPCommand(["CONTACT.GET", "499"]))
        #expect(decoded.last == RESPCommand(["PING"]))
        #expect(buffer.readableBytes == 0)
    }

    @Test func skipsEmptyLinesAndEmptyArrays() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n")
        #expect(try decoder.decode(buffer: &buffer) == RESPCommand(["PING"]))
    }

    @Test func keepsItsPlaceInALargeArgumentArrivingInSmallPieces() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPCommandDecoder()))
        let value = String(repeating: "x", count: 200_000)
        var wire = ByteBuffer()
        wire.writeRESPCommand(["ECHO", value])
        while wire.readableBytes > 0 {
            let piece = wire.readSlice(length: min(1000, wire.readableBytes))!
            try channel.writeInbound(piece)
        }
        let decoded = try channel.readInbound(as: RESPCommand.self)
        #expect(decoded == RESPCommand(["ECHO", value]))
        #expect(try channel.finish().isClean)
    }

    static let malformed: [(wire: String, reason: String)] = [
        ("*abc\r\n", "invalid multibulk count"),
        ("*1025\r\n", "invalid multibulk length"),
        ("*2\r\n:1\r\n", "expected '$', got ':'"),
        ("*1\r\n$-5\r\n", "invalid bulk length"),
        ("*1\r\n$1048577\r\n", "invalid bulk length"),
        ("*1\r\n$x\r\n", "invalid bulk length"),
        ("*1\r\n$3\r\nPINGX\r\n", "bulk string not terminated by CRLF"),
        ("*1\n", "invalid multibulk count"),
        ("SET \"unterminated\r\n", "unbalanced quotes in request"),
        ("SET 'a'b\r\n", "unbalanced quotes in request"),
        ("*99999999999999999999\r\n", "invalid multibulk count"),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedInput(wire: String, reason: String) {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: wire)
        #expect(throws: RESPProtocolError(reason)) {
            while try decoder.decode(buffer: &buffer) != nil {}
        }
    }

    @Test func rejectsAnInlineLineOverTheLimitBeforeItEnds() {
        var decoder = RESPCommandDecoder(limits: ProtocolLimits(maxInlineLength: 100))
        var buffer = ByteBuffer(string: String(repeating: "a", count: 101))
        #expect(throws: RESPProtocolError("too big inline request")) {
            _ = try decoder.decode(buffer: &buffer)
        }
    }

    @Test func capsTheBytesOfOneIncompleteCommand() {
        var decoder = RESPCommandDecoder(limits: ProtocolLimits(maxBulkLength: 1000, maxPendingBytes: 2500))
        var buffer = ByteBuffer()
        buffer.writeString("*5\r\n")
        for _ in 0..<3 {
            buffer.writeString("$1000\r\n" + String(repeating: "v", count: 1000) + "\r\n")
        }
        #expect(throws: RESPProtocolError("request exceeds the client's pending byte limit")) {
            _ = try decoder.decode(buffer: &buffer)
        }
    }

    @Test func enforcesTheArgumentLimitOnInlineCommands() {
        var decoder = RESPCommandDecoder(limits: ProtocolLimits(maxArguments: 3))
        var buffer = ByteBuffer(string: "a b c d\r\n")
        #expect(throws: RESPProtocolError("too many arguments in inline request")) {
            _ = try decoder.decode(buffer: &buffer)
        }
    }
}
