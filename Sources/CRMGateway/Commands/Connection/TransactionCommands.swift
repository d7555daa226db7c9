import CRMCore
import CRMProtocol
import CRMStore
import NIOCore

/// MULTI / EXEC / DISCARD. Between MULTI and EXEC the session queues
/// commands (``TransactionQueue``); these handlers answer the cases outside one.
enum TransactionCommands {
    static let handlers: [String: CommandHandler] = [
        "MULTI": { _ in .done(CommandResult(reply: .ok, effects: [.beginTransaction])) },
        "EXEC": { _ in .reply(CommandError(.err, "EXEC without MULTI").reply) },
        "DISCARD": { _ in .reply(CommandError(.err, "DISCARD without MULTI").reply) },
        "WATCH": watch,
        "UNWATCH": { _ in .done(CommandResult(reply: .ok, effects: [.unwatch])) },
    ]

    /// `WATCH type:id | type:ext:EXT ...`: notes each record's version now, for EXEC to compare.
    static func watch(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let database = try invocation.tenantDatabase()
        var names: [(type: RecordKind, reference: RecordReference)] = []
        for index in 1..<invocation.arguments.count {
            names.append(try WatchedRecord.parse(invocation.text(index)))
        }
        let keys = names
        return invocation.asyncResult {
            let records = try await database.read { transaction in
                try keys.map { type, reference in
                    WatchedRecord(
                        type: type, reference: reference,
                        version: try WatchedRecord.version(of: type, reference, in: transaction))
                }
            }
            return CommandResult(reply: .ok, effects: [.watch(records)])
        }
    }
}

/// A record a session watches: EXEC applies nothing if its version moved
/// (or it appeared or vanished) since `WATCH`.
struct WatchedRecord: Sendable {
    let type: RecordKind
    let reference: RecordReference
    /// Its version at `WATCH`; nil if it did not exist.
    let version: Int64?

    /// EXEC found a watched record changed.
    struct Changed: Error {}

    /// `contact:42`, `deal:7`, `company:ext:C-100`.
    static func parse(_ key: String) throws(CommandError) -> (type: RecordKind, reference: RecordReference) {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let type = RecordKind(rawValue: parts[0].lowercased()), !parts[1].isEmpty else {
            throw CommandError(
                .invalid, "WATCH key: must be contact:ID, company:ID, deal:ID or ticket:ID (or type:ext:EXT)")
        }
        if parts[1].hasPrefix("ext:") { return (type, .ext(String(parts[1].dropFirst(4)))) }
        guard let id = Int64(parts[1]), id > 0 else {
            throw CommandError(.invalid, "WATCH key: the id must be a positive integer, or ext:EXT")
        }
        return (type, .id(id))
    }

    static func version(of type: RecordKind, _ reference: RecordReference, in transaction: TenantReader)
        throws -> Int64?
    {
        do {
            return try transaction.records(type).get(reference).version
        } catch StoreError.notFound {
            return nil
        }
    }

    /// Whether every watched record still has the version it had at `WATCH`.
    static func unchanged(_ records: [WatchedRecord], in transaction: TenantReader) throws -> Bool {
        try records.allSatisfy { try version(of: $0.type, $0.reference, in: transaction) == $0.version }
    }
}

/// The commands a connection queued after MULTI.
///
/// EXEC runs them in one SQLite transaction, all or nothing: if a write
/// fails, every change of the block is rolled back; the failing command's
/// slot holds its error and every other slot `-EXECABORT` naming the failed
/// command and its error. A read that finds nothing (`-NOTFOUND`) answers
/// that in its slot and aborts nothing: reads change nothing the others
/// could depend on. If a record named by `WATCH` changed since, EXEC applies
/// nothing and answers a null reply, as Redis does. A command
/// rejected while queueing (unknown, wrong arity, not permitted, not
/// transactional) is answered at once and makes EXEC discard the block, as
/// in Redis.
struct TransactionQueue {
    private(set) var commands: [RESPCommand] = []
    private(set) var failed = false
    /// Bytes of the queued commands' arguments.
    private(set) var byteCount = 0

    static let maxCommands = 1000
    /// Commands that act at once even inside MULTI.
    static let immediate: Set<String> = ["QUIT", "RESET"]
    /// Tenant commands that change the connection, so they can neither wait in a queue nor join a batch.
    static let connectionChanging: Set<String> = ["FEED.OPEN"]

    /// Why `command` may not be queued: its gate error (``CommandDispatcher/gateError(_:session:)``),
    /// or that only tenant operations, PING and ECHO run inside MULTI.
    static func refusal(of command: RESPCommand, session: Session, dispatcher: CommandDispatcher) -> RESPValue? {
        if command.name == "MULTI" { return nil }
        if let error = dispatcher.gateError(command, session: session) { return error }
        guard dispatcher.isTenantOperation(command) || ["PING", "ECHO"].contains(command.name) else {
            return CommandError(.err, "\(command.name) is not allowed inside MULTI").reply
        }
        return nil
    }

    /// Queues `command` unless `refusal` says no or the queue is full; returns the reply to send now.
    /// A nested MULTI is answered with an error and fails nothing.
    mutating func enqueue(_ command: RESPCommand, refusal: RESPValue?) -> RESPValue {
        if command.name == "MULTI" {
            return CommandError(.err, "MULTI calls can not be nested").reply
        }
        let rejection =
            refusal
            ?? (commands.count >= Self.maxCommands
                ? CommandError(.limit, "at most \(Self.maxCommands) commands in a transaction").reply : nil)
        if let rejection {
            failed = true
            return rejection
        }
        commands.append(command)
        byteCount += command.arguments.reduce(0) { $0 + $1.readableBytes }
        return .simpleString("QUEUED")
    }

    /// A failed command inside EXEC: its position, name and reply.
    struct Aborted: Error {
        let index: Int
        let name: String
        let reply: RESPValue
    }

    /// EXEC's reply when command `index` (named `name`) failed with `reply`:
    /// every other slot says which command failed and why, so a client that
    /// raises the first error it finds (redis-py) still shows the cause.
    static func abortedReply(count: Int, failed index: Int, name: String, reply: RESPValue) -> RESPValue {
        let cause = reply.errorMessage ?? "failed"
        return .array(
            (0..<count).map { position in
                position == index
                    ? reply
                    : CommandError(
                        .execabort, "rolled back because command \(index + 1) (\(name)) failed: \(cause)"
                    ).reply
            })
    }
}
