import CRMProtocol
import NIOCore
import NIOPosix
import NIOSSL

/// Where crmgate-admin connects and how it trusts the server.
public struct Endpoint: Sendable {
    public var host: String
    public var port: Int
    /// PEM CA bundle that signed the server's certificate; nil with `insecure`.
    public var caPath: String?
    /// Skip certificate verification (development only).
    public var insecure: Bool

    public init(host: String, port: Int, caPath: String?, insecure: Bool) {
        self.host = host
        self.port = port
        self.caPath = caPath
        self.insecure = insecure
    }

    /// The name the certificate must carry: the host, or `localhost` for a loopback address.
    var serverName: String {
        host.hasPrefix("127.") || host == "::1" ? "localhost" : host
    }
}

/// The connection was lost; the REPL reconnects on the next command.
public struct ConnectionLost: Error, CustomStringConvertible {
    public var description: String { "connection lost" }
}

/// One TLS connection speaking RESP3 to crmgate. Calls block the calling
/// thread (the REPL's), never an event loop; push frames go to `onPush`.
public final class AdminConnection: Sendable {
    private let channel: any Channel

    private struct Request: Sendable {
        var bytes: ByteBuffer
        var reply: EventLoopPromise<RESPValue>
    }

    /// Pairs replies with requests in order and hands push frames aside.
    private final class ReplyHandler: ChannelDuplexHandler {
        typealias InboundIn = RESPValue
        typealias OutboundIn = Request
        typealias OutboundOut = ByteBuffer

        private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
        private let onPush: @Sendable (RESPValue) -> Void

        init(onPush: @escaping @Sendable (RESPValue) -> Void) {
            self.onPush = onPush
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let request = unwrapOutboundIn(data)
            waiting.append(request.reply)
            context.write(wrapOutboundOut(request.bytes), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let value = unwrapInboundIn(data)
            if case .push = value {
                onPush(value)
            } else if let next = waiting.popFirst() {
                next.succeed(value)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            while let next = waiting.popFirst() { next.fail(ConnectionLost()) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects over TLS; blocking.
    public static func connect(to endpoint: Endpoint, onPush: @escaping @Sendable (RESPValue) -> Void) throws
        -> AdminConnection
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if endpoint.insecure {
            tls.certificateVerification = .none
        } else if let caPath = endpoint.caPath {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        }
        let context = try NIOSSLContext(configuration: tls)
        let serverName = endpoint.serverName
        let channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try pipeline.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    try pipeline.addHandler(ReplyHandler(onPush: onPush))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .wait()
        return AdminConnection(channel: channel)
    }

    public var isActive: Bool { channel.isActive }

    /// Sends one command and waits for its reply.
    public func send(_ words: [String]) throws -> RESPValue {
        guard channel.isActive else { throw ConnectionLost() }
        var bytes = channel.allocator.buffer(capacity: 64)
        bytes.writeRESPCommand(words)
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        channel.writeAndFlush(Request(bytes: bytes, reply: reply)).cascadeFailure(to: reply)
        return try reply.futureResult.wait()
    }

    public func close() {
        try? channel.close().wait()
    }
}
