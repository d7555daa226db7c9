import CRMProtocol
import CRMStore
import CRMTestSupport
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import CRMGateway

/// The session pipeline on an `EmbeddedChannel`: no sockets, every byte boundary.
@Suite struct SessionHandlerTests {
    private func makeChannel(
        _ directory: TemporaryDirectory, loop: EmbeddedEventLoop = EmbeddedEventLoop()
    ) throws -> EmbeddedChannel {
        let services = try GatewayServices.embedded(in: directory)
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(SessionHandler(services: services))
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// What the channel wrote, once its event loop finished its turn (replies are written then).
    private func output(_ channel: EmbeddedChannel) throws -> String {
        channel.embeddedEventLoop.run()
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes)!
        }
        return text
    }

    @Test func answersAPipelineSplitAtEveryByteInOrder() throws {
        let wire = "PING\r\n*2\r\n$4\r\nPING\r\n$2\r\nhi\r\nFOO\r\n*1\r\n$4\r\nECHO\r\n"
        let expected =
            "+PONG\r\n$2\r\nhi\r\n-ERR unknown command 'FOO', with args beginning with: \r\n-NOAUTH Authentication required.\r\n"
        for split in 1..<wire.utf8.count {
            let directory = try TemporaryDirectory()
            let channel = try makeChannel(directory)
            let bytes = Array(wire.utf8)
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
            #expect(try output(channel) == expected, "split at \(split)")
            _ = try? channel.finish()
        }
    }

    @Test func flushesOncePerReadBurstAtTheEndOfTheLoopsTurn() throws {
        let directory = try TemporaryDirectory()
        let channel = try makeChannel(directory)
        var burst = ByteBuffer()
        for _ in 0..<50 { burst.writeString("PING\r\n") }
        channel.pipeline.fireChannelRead(burst)
        channel.pipeline.fireChannelReadComplete()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "written once the turn's reads are done")
        channel.embeddedEventLoop.run()
        let first = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(first.readableBytes == 50 * 7, "all 50 replies in one write")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }

    /// Two connections read in one turn of their event loop: neither reply is
    /// written until both ran, then both go out (as Redis writes before it sleeps).
    @Test func connectionsReadInOneTurnAreAnsweredTogetherAtItsEnd() throws {
        let directory = try TemporaryDirectory()
        let loop = EmbeddedEventLoop()
        let first = try makeChannel(directory, loop: loop)
        let second = try makeChannel(directory, loop: loop)
        for channel in [first, second] {
            channel.pipeline.fireChannelRead(ByteBuffer(string: "PING\r\n"))
            channel.pipeline.fireChannelReadComplete()
        }
        #expect(try first.readOutbound(as: ByteBuffer.self) == nil, "not written before the second connection ran")
        #expect(try second.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(try output(first) == "+PONG\r\n")
        #expect(try output(second) == "+PONG\r\n")
        _ = try? first.finish()
        _ = try? second.finish()
    }

    @Test func protocolErrorRepliesAndCloses() throws {
        let directory = try TemporaryDirectory()
        let channel = try makeChannel(directory)
        try channel.writeInbound(ByteBuffer(string: "PING\r\n*1\r\n$x\r\nPING\r\n"))
        #expect(try output(channel) == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        #expect(!channel.isActive)
    }

    @Test func aLargeCommandArrivingInSmallPiecesIsAnsweredWhole() throws {
        let directory = try TemporaryDirectory()
        let channel = try makeChannel(directory)
        let message = String((0..<200_000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let wire = Array("*2\r\n$4\r\nPING\r\n$\(message.utf8.count)\r\n\(message)\r\nPING\r\n".utf8)
        var answered = ""
        for start in stride(from: 0, to: wire.count, by: 1000) {
            try channel.writeInbound(ByteBuffer(bytes: wire[start..<min(start + 1000, wire.count)]))
            answered += try output(channel)
            if start + 1000 < wire.count {
                #expect(answered.isEmpty, "nothing is answered before the command is whole")
            }
        }
        #expect(answered == "$\(message.utf8.count)\r\n\(message)\r\n+PONG\r\n")
        _ = try? channel.finish()
    }
}
