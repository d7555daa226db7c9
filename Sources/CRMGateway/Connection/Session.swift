import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// What a command knows about the connection that sent it. A tenant session
/// holds its own tenant's database and no other: that handle is the only
/// path to CRM data, so no command can name another tenant's records.
struct Session: Sendable {
    var client: ClientInfo
    var protocolVersion = RESPVersion.resp2
    var key: KeyInfo?
    /// The hold on the tenant's database; ``hold(_:)`` is the one place it is released.
    private(set) var lease: TenantLease?
    /// The tenant's own figures (commands, errors, connections) this session adds to.
    var activity: TenantActivity.Counters?
    var name: String?
    /// The ERP feed `SEQ n` arguments belong to, chosen with FEED.OPEN.
    var feed: String?
    /// Records named by `WATCH`, checked by the next EXEC.
    var watched: [WatchedRecord] = []
    /// Channels plus patterns subscribed; a RESP2 connection with any is in subscribe mode.
    var subscriptionCount = 0

    /// RESP2 subscribe mode: only (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET may run.
    var inSubscribeMode: Bool { subscriptionCount > 0 && protocolVersion == .resp2 }

    var role: Role? { key?.role }

    /// The session's tenant database; admin sessions have none.
    var tenant: TenantDatabase? { lease?.database }

    /// Holds `lease` (nil: no tenant) and releases the one held before.
    mutating func hold(_ lease: TenantLease?) {
        self.lease?.release()
        self.lease = lease
    }

    /// AUTH or HELLO succeeded: the session now acts as `key`, on `lease`'s
    /// tenant, and counts toward `activity`. Records watched in a previous
    /// tenant are forgotten: they name that tenant's data.
    mutating func authenticate(_ key: KeyInfo, lease: TenantLease?, activity: TenantActivity.Counters?) {
        hold(lease)
        self.key = key
        watched = []
        self.activity?.connectedClients.subtract(1, ordering: .relaxed)
        self.activity = activity
        activity?.connectedClients.add(1, ordering: .relaxed)
        activity?.connectionsReceived.add(1, ordering: .relaxed)
        client.details.withLock { details in
            details.keyID = key.id
            details.tenant = key.tenant
            details.role = key.role
        }
    }

    /// RESET: back to a fresh, unauthenticated connection.
    mutating func reset() {
        hold(nil)
        activity?.connectedClients.subtract(1, ordering: .relaxed)
        self = Session(client: client)
        client.details.withLock { details in
            details.name = nil
            details.keyID = nil
            details.tenant = nil
            details.role = nil
            details.protocolVersion = 2
        }
    }
}

/// A change a command makes to its connection, applied on the connection's event loop.
enum SessionEffect: Sendable {
    case authenticated(KeyInfo, TenantLease?)
    case setName(String?)
    case switchProtocol(RESPVersion)
    case reset
    /// MULTI: queue the following commands until EXEC or DISCARD.
    case beginTransaction
    /// WATCH: EXEC applies nothing if one of these records changed.
    case watch([WatchedRecord])
    /// UNWATCH: forget the watched records.
    case unwatch
    /// FEED.OPEN: later `SEQ n` arguments number this feed's updates.
    case openFeed(String)
    /// (P)(UN)SUBSCRIBE: the session answers with one confirmation frame per
    /// channel instead of the command's reply.
    case subscriptions(SubscriptionChange)
    /// Close after this reply is written (QUIT).
    case close
    /// Over a rate limit: read nothing more from this connection for this many
    /// milliseconds, so a flood costs the server one read per retry interval.
    case holdReading(Int)
}

/// A command's reply and its effects on the connection.
struct CommandResult: Sendable {
    var reply: RESPValue
    var effects: [SessionEffect] = []
}

/// Work on the session's tenant database. The session runs consecutive
/// operations of a pipeline in one transaction: reads on a snapshot, writes in
/// one group commit, each write in its own savepoint.
struct TenantOperation: Sendable {
    /// What the operation does: only a write body gets a ``TenantWriter``.
    enum Body: Sendable {
        case read(@Sendable (TenantReader) throws -> RESPValue)
        case write(@Sendable (TenantWriter) throws -> RESPValue)

        /// The body as a read, or nil if it writes.
        var readOnly: (@Sendable (TenantReader) throws -> RESPValue)? {
            if case .read(let read) = self { return read }
            return nil
        }

        /// The body run inside a write transaction; a read sees the transaction's changes so far.
        var inWrite: @Sendable (TenantWriter) throws -> RESPValue {
            switch self {
            case .read(let read): { writer in try read(writer.reader) }
            case .write(let write): write
            }
        }
    }

    let database: TenantDatabase
    let body: Body
    /// The command-table name, for the log when the operation fails unexpectedly.
    var command = ""
    /// Connection id and command number, for the log.
    var requestID = RequestID(client: 0, command: 0)
    /// The record this operation reads (by id or ext), if the tenant's record
    /// cache may answer instead of `run`.
    var cachedRecord: (type: RecordKind, reference: RecordReference)?

    var writes: Bool { body.readOnly == nil }

    /// Writes the reply from the record cache, encoded for `version`, into
    /// `output` if this operation is a cached record's read; false if not.
    /// The encoded reply is kept with the cached record, so a repeated read
    /// costs one copy.
    func writeReplyFromCache(version: RESPVersion, into output: inout ByteBuffer) -> Bool {
        guard let (type, reference) = cachedRecord else { return false }
        return database.cachedReply(
            type, reference, format: version.rawValue,
            encode: { record in
                var buffer = ByteBuffer()
                buffer.writeRESPValue(RecordReply.record(record), version: version)
                return Array(buffer.readableBytesView)
            },
            write: { output.writeBytes($0) })
    }
}

/// Names one command in the log as `<connection id>-<command number>`;
/// formatted only when a log line needs it.
struct RequestID: Sendable, CustomStringConvertible {
    let client: Int
    let command: Int

    var description: String { "\(client)-\(command)" }
}

/// A finished reply, one that other storage work will produce later, or a
/// tenant operation for the session to schedule.
enum CommandOutcome {
    case done(CommandResult)
    case pending(EventLoopFuture<CommandResult>)
    case tenant(TenantOperation)

    static func reply(_ value: RESPValue) -> CommandOutcome {
        .done(CommandResult(reply: value))
    }
}

/// One command as a handler sees it.
struct CommandInvocation: Sendable {
    /// The words of the command; `arguments[0]` is its name.
    let arguments: [ByteBuffer]
    let route: CommandDispatcher.Route
    let session: Session
    let services: GatewayServices
    let eventLoop: any EventLoop

    /// The command's table entry.
    var spec: CommandSpec { route.spec }

    /// Argument `index` as UTF-8 text (0 is the command name).
    func text(_ index: Int) throws(CommandError) -> String {
        guard index < arguments.count else { throw CommandError.syntax() }
        guard let text = arguments[index].withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else {
            throw CommandError(.invalid, "argument \(index): not valid UTF-8")
        }
        return text
    }

    /// Arguments from `start` on, as text.
    func texts(from start: Int) throws(CommandError) -> [String] {
        var words: [String] = []
        for index in start..<max(start, arguments.count) {
            words.append(try text(index))
        }
        return words
    }

    func integer(_ index: Int, name: String) throws(CommandError) -> Int64 {
        guard let value = Int64(try text(index)) else {
            throw CommandError(.invalid, "\(name): must be an integer")
        }
        return value
    }

    /// The session's tenant database; admin keys have none.
    func tenantDatabase() throws(CommandError) -> TenantDatabase {
        guard let tenant = session.tenant else {
            throw CommandError(.noperm, "this command needs a tenant key; admin keys read no tenant's data")
        }
        return tenant
    }

    /// Reads from the session's tenant database; `cachedRecord` names the record
    /// `body` reads if the record cache may answer instead.
    func read(
        cachedRecord: (type: RecordKind, reference: RecordReference)? = nil,
        _ body: @escaping @Sendable (TenantReader) throws -> RESPValue
    ) throws(CommandError) -> CommandOutcome {
        .tenant(TenantOperation(database: try tenantDatabase(), body: .read(body), cachedRecord: cachedRecord))
    }

    /// Writes to the session's tenant database; the reply waits for the commit.
    func write(_ body: @escaping @Sendable (TenantWriter) throws -> RESPValue) throws(CommandError)
        -> CommandOutcome
    {
        .tenant(TenantOperation(database: try tenantDatabase(), body: .write(body)))
    }

    /// Runs catalog work off the event loop and replies with its result.
    /// The server's logger with this command's `request_id` (connection id and command number).
    var logger: Logger {
        var logger = services.logger
        logger[metadataKey: "request_id"] = "\(session.client.id)-\(session.client.details.withLock { $0.commands })"
        return logger
    }

    func async(_ work: @escaping @Sendable () async throws -> RESPValue) -> CommandOutcome {
        asyncResult { CommandResult(reply: try await work()) }
    }

    func asyncResult(_ work: @escaping @Sendable () async throws -> CommandResult) -> CommandOutcome {
        let promise = eventLoop.makePromise(of: CommandResult.self)
        promise.completeWithTask(work)
        return .pending(promise.futureResult)
    }
}
