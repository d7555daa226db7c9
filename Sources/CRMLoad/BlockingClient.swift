import CRMProtocol
import NIOCore
import NIOPosix
import NIOSSL

/// A plain RESP2 client for the tool's own set-up and verification:
/// pipelines a batch of commands and waits for their replies. Never used on
/// an event loop thread.
final class BlockingClient: Sendable {
    private let channel: any Channel

    private final class Replies: ChannelDuplexHandler {
        typealias InboundIn = RESPValue
        typealias OutboundIn = (ByteBuffer, [EventLoopPromise<RESPValue>])
        typealias OutboundOut = ByteBuffer
        private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let (bytes, replies) = unwrapOutboundIn(data)
            waiting.append(contentsOf: replies)
            context.write(wrapOutboundOut(bytes), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            waiting.popFirst()?.succeed(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            while let next = waiting.popFirst() { next.fail(LoadError("the server closed the connection")) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func connect(host: String, port: Int, tls: NIOSSLContext?, serverName: String?) throws -> BlockingClient {
        let channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    try pipeline.addHandler(Replies())
                }
            }
            .connect(host: host, port: port).wait()
        return BlockingClient(channel: channel)
    }

    /// Sends every command at once, then waits for all their replies, in order.
    func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        var results: [RESPValue] = []
        for batch in stride(from: 0, to: commands.count, by: 1000) {
            let slice = commands[batch..<min(commands.count, batch + 1000)]
            var bytes = channel.allocator.buffer(capacity: slice.count * 48)
            for words in slice { bytes.writeRESPCommand(words) }
            let promises = slice.map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
            channel.writeAndFlush((bytes, promises)).whenFailure { error in
                for promise in promises { promise.fail(error) }
            }
            for promise in promises { results.append(try promise.futureResult.wait()) }
        }
        return results
    }

    /// Sends one command; its reply completes the future, on the connection's event loop.
    func request(_ words: [String]) -> EventLoopFuture<RESPValue> {
        var bytes = channel.allocator.buffer(capacity: 64)
        bytes.writeRESPCommand(words)
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        channel.writeAndFlush((bytes, [reply])).whenFailure(reply.fail)
        return reply.futureResult
    }

    /// Sends one command and waits for its reply.
    func send(_ words: String...) throws -> RESPValue {
        try request(words).wait()
    }

    func close() {
        try? channel.close().wait()
    }
}
