import CRMCore
import CRMStore
import Foundation
import NIOCore
import Synchronization

/// One connection as `CLIENT LIST` and `INFO clients` see it.
public final class ClientInfo: Sendable {
    struct Details {
        var name: String?
        var keyID: String?
        var tenant: String?
        var role: Role?
        var protocolVersion = 2
        var lastCommand = "NULL"
        var lastActive = ContinuousClock.now
        var commands = 0
        /// `CLIENT SETINFO LIB-NAME` / `LIB-VER`.
        var libraryName: String?
        var libraryVersion: String?
        /// What the connection holds, as of its latest command (``SessionHandler`` updates it).
        var buffers = Buffers()
    }

    /// A connection's queues and buffers, in Redis's `CLIENT LIST` terms.
    struct Buffers {
        /// Channels and patterns subscribed.
        var channels = 0
        var patterns = 0
        /// Commands queued since MULTI; -1 outside one.
        var multi = -1
        /// Bytes of the queued MULTI commands.
        var multiBytes = 0
        /// Bytes read but not yet parsed into a command.
        var queryBytes = 0
        /// Bytes of the arguments of the command being run.
        var argumentBytes = 0
        /// Commands read whose replies are not yet written.
        var pendingReplies = 0
        /// Reply bytes produced but not yet handed to the socket.
        var outputBytes = 0
    }

    public let id: Int
    let address: String
    let localAddress: String
    let connectedAt = ContinuousClock.now
    let channel: any Channel
    let details = Mutex(Details())

    init(id: Int, channel: any Channel) {
        self.id = id
        self.channel = channel
        address = Self.describe(channel.remoteAddress)
        localAddress = Self.describe(channel.localAddress)
    }

    /// The peer's IP address without the port, the unit of AUTH throttling.
    var peerIP: String {
        channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Whether it is subscribed to a channel or pattern (`CLIENT LIST TYPE pubsub`).
    var isSubscriber: Bool {
        details.withLock { $0.buffers.channels + $0.buffers.patterns > 0 }
    }

    /// A `CLIENT LIST` line with Redis 7.2's fields (memory figures are the
    /// bytes the connection holds in its buffers) and crmgate's own
    /// (`tenant`, `role`, `commands`). It names the key id, never a secret.
    var listLine: String {
        let now = ContinuousClock.now
        return details.withLock { details in
            let buffers = details.buffers
            var flags = buffers.channels + buffers.patterns > 0 ? "P" : ""
            if buffers.multi >= 0 { flags += "x" }
            let totalMemory = buffers.queryBytes + buffers.argumentBytes + buffers.multiBytes + buffers.outputBytes
            return [
                "id=\(id)", "addr=\(address)", "laddr=\(localAddress)", "name=\(details.name ?? "")",
                "age=\((now - connectedAt).components.seconds)",
                "idle=\((now - details.lastActive).components.seconds)", "flags=\(flags.isEmpty ? "N" : flags)",
                "db=0", "sub=\(buffers.channels)", "psub=\(buffers.patterns)", "ssub=0", "multi=\(buffers.multi)",
                "qbuf=\(buffers.queryBytes)", "qbuf-free=0", "argv-mem=\(buffers.argumentBytes)",
                "multi-mem=\(buffers.multiBytes)", "rbs=\(buffers.queryBytes)", "rbp=\(buffers.queryBytes)",
                "obl=\(buffers.outputBytes)", "oll=\(buffers.pendingReplies)", "omem=\(buffers.outputBytes)",
                "tot-mem=\(totalMemory)", "events=r", "cmd=\(details.lastCommand.lowercased())",
                "user=\(details.keyID ?? "")", "redir=-1", "resp=\(details.protocolVersion)",
                "lib-name=\(details.libraryName ?? "")", "lib-ver=\(details.libraryVersion ?? "")",
                "tenant=\(details.tenant ?? "")", "role=\(details.role?.rawValue ?? "")",
                "commands=\(details.commands)",
            ].joined(separator: " ")
        }
    }

    private static func describe(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "?" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Every open connection, for `CLIENT LIST|KILL`, `INFO clients`, and for
/// closing the sessions of a revoked key or a suspended tenant.
public final class ClientRegistry: Sendable {
    private let clients = Mutex<[Int: ClientInfo]>([:])
    private let nextID = Atomic<Int>(1)

    init() {}

    func register(_ channel: any Channel) -> ClientInfo {
        let client = ClientInfo(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, channel: channel)
        clients.withLock { $0[client.id] = client }
        return client
    }

    func unregister(_ client: ClientInfo) {
        _ = clients.withLock { $0.removeValue(forKey: client.id) }
    }

    var count: Int { clients.withLock { $0.count } }

    /// Connections in id order.
    func all() -> [ClientInfo] {
        clients.withLock { Array($0.values) }.sorted { $0.id < $1.id }
    }

    /// Closes every connection matching `predicate`; returns how many.
    @discardableResult
    func close(where predicate: (ClientInfo) -> Bool) -> Int {
        let matching = all().filter(predicate)
        for client in matching {
            client.channel.close(promise: nil)
        }
        return matching.count
    }

    /// Closes the connections `withdrawal` takes access from: a revoked key's,
    /// or a suspended or dropped tenant's; returns how many.
    @discardableResult
    func close(losing withdrawal: AccessWithdrawal) -> Int {
        switch withdrawal {
        case .keyRevoked(let id):
            close { client in client.details.withLock { $0.keyID } == id }
        case .tenantSuspended(let name), .tenantDropped(let name):
            close { client in client.details.withLock { $0.tenant } == name.value }
        }
    }

    /// Closes every connection, letting in-flight commands finish first (shutdown).
    func closeAllGracefully() -> [EventLoopFuture<Void>] {
        all().map { client in
            let promise = client.channel.eventLoop.makePromise(of: Void.self)
            client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            client.channel.closeFuture.cascade(to: promise)
            return promise.futureResult
        }
    }
}
