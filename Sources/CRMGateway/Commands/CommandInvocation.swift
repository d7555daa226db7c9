import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// A command's reply and its effects on the connection.
struct CommandResult: Sendable {
    var reply: RESPValue
    var effects: [SessionEffect] = []
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
        let text = arguments[index].withUnsafeReadableBytes { bytes in
            // ASCII (nearly every argument) is valid UTF-8 as it is: decoded without the
            // generic validating initializer, which looked up type metadata at every call.
            bytes.allSatisfy { $0 < 0x80 }
                ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
        }
        guard let text else { throw CommandError(.invalid, "argument \(index): not valid UTF-8") }
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
    /// `body` reads if the record cache may answer instead. A read that
    /// `mayTakeLong` runs on a reader thread; others are tried on the event
    /// loop first (``TenantOperation/mayTakeLong``).
    func read(
        cachedRecord: (type: RecordKind, reference: RecordReference)? = nil, mayTakeLong: Bool = false,
        _ body: @escaping @Sendable (TenantReader) throws -> RESPValue
    ) throws(CommandError) -> CommandOutcome {
        .tenant(
            TenantOperation(
                database: try tenantDatabase(), body: .read(body), cachedRecord: cachedRecord,
                mayTakeLong: mayTakeLong))
    }

    /// Writes to the session's tenant database; the reply waits for the commit.
    func write(_ body: @escaping @Sendable (TenantWriter) throws -> RESPValue) throws(CommandError)
        -> CommandOutcome
    {
        .tenant(TenantOperation(database: try tenantDatabase(), body: .write(body)))
    }

    /// The server's logger with this command's `request_id` (connection id and command number).
    var logger: Logger {
        var logger = services.logger
        logger[metadataKey: "request_id"] = "\(session.client.id)-\(session.client.details.withLock { $0.commands })"
        return logger
    }

    /// Runs work off the event loop (catalog, blocking reads) and replies with its result.
    func async(_ work: @escaping @Sendable () async throws -> RESPValue) -> CommandOutcome {
        asyncResult { CommandResult(reply: try await work()) }
    }

    func asyncResult(_ work: @escaping @Sendable () async throws -> CommandResult) -> CommandOutcome {
        let promise = eventLoop.makePromise(of: CommandResult.self)
        promise.completeWithTask(work)
        return .pending(promise.futureResult)
    }
}
