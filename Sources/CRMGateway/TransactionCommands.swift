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
    ]
}

/// The commands a connection queued after MULTI.
///
/// EXEC runs them in one SQLite transaction, all or nothing: if any command
/// fails, every change of the block is rolled back; the failing command's
/// slot holds its error and every other slot `-EXECABORT`. A command
/// rejected while queueing (unknown, wrong arity, not permitted, not
/// transactional) is answered at once and makes EXEC discard the block, as
/// in Redis.
struct TransactionQueue {
    private(set) var commands: [RESPCommand] = []
    private(set) var failed = false

    static let maxCommands = 1000
    /// Commands that act at once even inside MULTI.
    static let immediate: Set<String> = ["QUIT", "RESET"]
    /// Tenant commands that change the connection, so they can neither wait in a queue nor join a batch.
    static let connectionChanging: Set<String> = ["FEED.OPEN"]

    /// Queues `command` if the dispatcher accepts it for a transaction; returns the reply to send now.
    mutating func enqueue(_ command: RESPCommand, session: Session, dispatcher: CommandDispatcher) -> RESPValue {
        let rejection: RESPValue?
        if command.name == "MULTI" {
            return CommandError(.err, "MULTI calls can not be nested").reply
        } else if let error = dispatcher.gateError(command, session: session) {
            rejection = error
        } else if !dispatcher.isTenantOperation(command), !["PING", "ECHO"].contains(command.name) {
            rejection = CommandError(.err, "\(command.name) is not allowed inside MULTI").reply
        } else if commands.count >= Self.maxCommands {
            rejection = CommandError(.limit, "at most \(Self.maxCommands) commands in a transaction").reply
        } else {
            rejection = nil
        }
        if let rejection {
            failed = true
            return rejection
        }
        commands.append(command)
        return .simpleString("QUEUED")
    }

    /// A failed command inside EXEC: its position and reply.
    struct Aborted: Error {
        let index: Int
        let reply: RESPValue
    }

    /// EXEC's reply when command `index` failed with `reply`.
    static func abortedReply(count: Int, failed index: Int, reply: RESPValue) -> RESPValue {
        .array(
            (0..<count).map { position in
                position == index
                    ? reply
                    : CommandError(.execabort, "rolled back: command \(index + 1) of the transaction failed").reply
            })
    }
}
