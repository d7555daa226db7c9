import CRMProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A RESP client over a real TLS (or plaintext) socket, for end-to-end tests.
final class TestClient {
    struct ConnectionClosed: Error {}

    /// No reply came within ``replyWait``: the watchdog closed the connection.
    struct NoReply: Error, CustomStringConvertible {
        let command: String
        var description: String { "no reply to \(command) within \(TestClient.replyWait)" }
    }

    /// How long a reply may take before the watchdog closes the connection:
    /// long enough for a loaded CI machine running every suite on one
    /// PostgreSQL, short enough that a hang fails its test rather than the run.
    static let replyWait = Duration.seconds(60)

    /// Set by the watchdog when it closed the connection.
    private final class Watchdog: Sendable {
        let fired = Atomic<Bool>(false)
    }

    private final class ReplyStream: ChannelInboundHandler, Sendable {
        typealias InboundIn = RESPValue
        let continuation: AsyncStream<RESPValue>.Continuation

        init(_ continuation: AsyncStream<RESPValue>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    private var replies: AsyncStream<RESPValue>.AsyncIterator
    private let watchdog = Watchdog()

    /// Connects; a small `receiveBufferSize` makes a client that stops reading fall behind quickly.
    /// `identity` is a PEM client certificate and key, for mutual TLS.
    static func connect(
        port: Int, caPath: String?, receiveBufferSize: Int? = nil, identity: (certificate: String, key: String)? = nil,
        tls: (inout TLSConfiguration) -> Void = { _ in }
    ) async throws -> TestClient {
        let (stream, continuation) = AsyncStream.makeStream(of: RESPValue.self)
        let tlsContext = try caPath.map { path in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            if let identity {
                configuration.certificateChain = [
                    .certificate(try NIOSSLCertificate(bytes: Array(identity.certificate.utf8), format: .pem))
                ]
                configuration.privateKey = .privateKey(
                    try NIOSSLPrivateKey(bytes: Array(identity.key.utf8), format: .pem))
            }
            tls(&configuration)
            return try NIOSSLContext(configuration: configuration)
        }
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferSize))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tlsContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: "localhost"))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    try pipeline.addHandler(ReplyStream(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return TestClient(channel: channel, replies: stream.makeAsyncIterator())
    }

    private init(channel: any Channel, replies: AsyncStream<RESPValue>.AsyncIterator) {
        self.channel = channel
        self.replies = replies
    }

    /// Sends one command and returns its reply.
    @discardableResult
    func send(_ words: String...) async throws -> RESPValue {
        try await send(words)
    }

    @discardableResult
    func send(_ words: [String]) async throws -> RESPValue {
        var buffer = channel.allocator.buffer(capacity: 64)
        buffer.writeRESPCommand(words)
        let sent = ContinuousClock.now
        do {
            try await channel.writeAndFlush(buffer)
            let reply = try await read()
            // A slow reply is named in the test output, to find what was slow when one is too slow.
            let took = ContinuousClock.now - sent
            if took > .seconds(5) { print("slow reply: \(words.first ?? "") took \(took)") }
            return reply
        } catch  where watchdog.fired.load(ordering: .relaxed) {
            throw NoReply(command: words.first ?? "")
        }
    }

    /// Writes raw bytes in one write.
    func write(raw bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Writes many commands in one write (a pipeline) and reads all their replies.
    func pipeline(_ commands: [[String]]) async throws -> [RESPValue] {
        var buffer = channel.allocator.buffer(capacity: commands.count * 32)
        for command in commands { buffer.writeRESPCommand(command) }
        try await channel.writeAndFlush(buffer)
        var replies: [RESPValue] = []
        for _ in commands { replies.append(try await read()) }
        return replies
    }

    /// The next reply; the connection is closed if none arrives within ``replyWait``.
    func read() async throws -> RESPValue {
        let dog = watchdog
        let wait = TimeAmount.seconds(Self.replyWait.components.seconds)
        let timer = channel.eventLoop.scheduleTask(in: wait) { [channel] in
            dog.fired.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        guard let reply = await replies.next() else {
            throw dog.fired.load(ordering: .relaxed) ? NoReply(command: "a command") : ConnectionClosed()
        }
        return reply
    }

    /// Whether the server closed the connection within five seconds.
    func isClosedByServer() async -> Bool {
        for _ in 0..<250 where channel.isActive {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }

    /// Stops (or resumes) reading from the socket, as a stalled consumer would.
    func setReading(_ reading: Bool) async throws {
        try await channel.setOption(.autoRead, value: reading).get()
        if reading { channel.read() }
    }

    func close() async {
        try? await channel.close()
    }
}

extension RESPValue {
    /// A RESP2 flat field/value array or a RESP3 map, as a dictionary.
    var fields: [String: String] {
        var result: [String: String] = [:]
        switch self {
        case .map(let pairs):
            for pair in pairs { result[pair.key.string ?? ""] = pair.value.string }
        case .array(let values):
            for index in stride(from: 0, to: values.count - 1, by: 2) {
                result[values[index].string ?? ""] = values[index + 1].string
            }
        default:
            break
        }
        return result
    }
}
