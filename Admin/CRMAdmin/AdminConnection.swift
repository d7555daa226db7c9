import CRMProtocol
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
    import Glibc
#endif

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
            // In RESP3 the server confirms (P)(UN)SUBSCRIBE with a push frame: that is the command's reply.
            if case .push = value, !(Self.isSubscriptionConfirmation(value) && !waiting.isEmpty) {
                onPush(value)
            } else if let next = waiting.popFirst() {
                next.succeed(value)
            }
        }

        private static func isSubscriptionConfirmation(_ push: RESPValue) -> Bool {
            guard let kind = push.elements?.first?.string?.lowercased() else { return false }
            return ["subscribe", "psubscribe", "unsubscribe", "punsubscribe"].contains(kind)
        }

        func channelInactive(context: ChannelHandlerContext) {
            while let next = waiting.popFirst() { next.fail(ConnectionLost()) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Completes once the TLS handshake is done, or fails with the reason it failed.
    private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = RESPValue
        let done: EventLoopPromise<Void>

        init(done: EventLoopPromise<Void>) {
            self.done = done
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSUserEvent { done.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ConnectionLost())
            context.fireChannelInactive()
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
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.any().makePromise(of: Void.self)
        let connecting = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try pipeline.addHandler(HandshakeWaiter(done: handshake))
                    try pipeline.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    try pipeline.addHandler(ReplyHandler(onPush: onPush))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
        let channel: any Channel
        do {
            channel = try connecting.wait()
        } catch {
            handshake.fail(error)
            throw error
        }
        do {
            // A certificate the CA did not sign fails here, with its reason, not at the first command.
            try handshake.futureResult.wait()
        } catch {
            channel.close(promise: nil)
            throw error
        }
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

/// Why crmgate-admin could not reach, trust or log in to the server, in one
/// plain line that says what to check, instead of NIO's own error text.
public enum ConnectionProblem {
    public static func explain(_ error: any Error, endpoint: Endpoint) -> String {
        let address = "\(endpoint.host):\(endpoint.port)"
        let text = "\(error)"
        if let connect = error as? NIOConnectionError {
            let refused = connect.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
            if refused {
                return
                    "cannot connect to \(address): nothing listens there (is crmgate running? check --host and --port)"
            }
            if connect.dnsAAAAError != nil || connect.dnsAError != nil, connect.connectionErrors.isEmpty {
                return "cannot resolve \(endpoint.host) (check --host)"
            }
            return "cannot connect to \(address) (check --host, --port and the network)"
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return "cannot connect to \(address): no answer within 5 s (check --host, --port and firewalls)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "TLS failed: the server's certificate is not signed by \(endpoint.caPath ?? "the CA given") "
                + "(check --cacert; a local server's CA is DATA/tls/ca.pem)"
        }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS failed: the server's certificate does not name \(endpoint.host) (connect by a name it carries)"
        }
        if error is NIOSSLError || text.contains("handshakeFailed") {
            return "TLS failed with \(address): \(text) (is it crmgate's TLS port? check --port and --cacert)"
        }
        if text.hasPrefix("authentication failed") {
            return "\(text) (check --key-id with CRMGATE_KEY or --secret, or --key-file)"
        }
        if let posix = error as? NIOSSL.NIOSSLError { return "TLS failed: \(posix)" }
        return text
    }
}
