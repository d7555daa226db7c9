import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// Runs a session's tenant operations on its tenant database: a pipelined
/// batch in one transaction, or a MULTI/EXEC transaction all or nothing.
struct TenantWork {
    /// One command of a batch: answered already, answered later by other
    /// work, or an operation on the tenant database.
    enum BatchItem {
        case ready(CommandResult)
        case later(EventLoopFuture<CommandResult>)
        case operation(TenantOperation)
    }

    let logger: Logger
    let eventLoop: any EventLoop

    /// A batch's results: at once (read on the event loop's own connection),
    /// or once another thread answered.
    enum Answer {
        case now([CommandResult])
        case later(EventLoopFuture<[CommandResult]>)
    }

    /// Runs a batch's operations in one transaction: a read snapshot if none
    /// writes, else one group-commit write in which a failed operation undoes
    /// only its own changes. The results come in command order.
    func execute(_ batch: [BatchItem], on database: TenantDatabase) -> Answer {
        let operations = batch.compactMap { item -> TenantOperation? in
            if case .operation(let operation) = item { return operation }
            return nil
        }
        let logger = logger
        let replies: @Sendable (Result<[Result<RESPValue, any Error>], any Error>) -> [RESPValue] = { outcome in
            // A batch that fails as a whole (its commit, or no snapshot to read) answers every command
            // in it with that error, keeping replies in step with commands.
            let results: [Result<RESPValue, any Error>]
            switch outcome {
            case .success(let each): results = each
            case .failure(let error): results = operations.map { _ in .failure(error) }
            }
            return zip(results, operations).map { result, operation in result.reply(to: operation, logger: logger) }
        }
        let later = batch.compactMap { item -> EventLoopFuture<CommandResult>? in
            if case .later(let future) = item { return future }
            return nil
        }
        let reads = operations.compactMap(\.body.readOnly)
        let readAll: @Sendable (TenantReader) -> [Result<RESPValue, any Error>] = { reader in
            reads.map { read in Result { try read(reader) } }
        }
        let replied: EventLoopFuture<[RESPValue]>
        // Quick reads are answered right here, on the event loop's own connection, with no
        // future to wait for unless a command of the batch is answered later (a blocking read).
        if reads.count == operations.count, !operations.contains(where: \.mayTakeLong),
            let results = database.readHere(lane: eventLoop, readAll)
        {
            let answered = replies(results)
            guard !later.isEmpty else { return .now(Self.merge(batch, replies: answered, later: [])) }
            replied = eventLoop.makeSucceededFuture(answered)
        } else {
            let promise = eventLoop.makePromise(of: [RESPValue].self)
            let answer: @Sendable (Result<[Result<RESPValue, any Error>], any Error>) -> Void = { outcome in
                promise.succeed(replies(outcome))
            }
            if reads.count == operations.count {
                // The rest, and any that turned out slow, on a reader thread.
                database.read(readAll, completion: answer)
            } else {
                database.writeEach(operations.map(\.body.inWrite), completion: answer)
            }
            replied = promise.futureResult
        }
        // Commands answered later (a blocking read in the pipeline) are waited for together; most
        // batches have none, and their replies are merged in one step, without a future per command.
        guard !later.isEmpty else {
            return .later(replied.map { Self.merge(batch, replies: $0, later: []) })
        }
        return .later(
            replied.and(EventLoopFuture.whenAllSucceed(later, on: eventLoop)).map {
                Self.merge(batch, replies: $0, later: $1)
            })
    }

    /// The batch's results in command order: `replies` answer its operations, `later` its pending commands.
    private static func merge(_ batch: [BatchItem], replies: [RESPValue], later: [CommandResult]) -> [CommandResult] {
        var nextReply = replies.makeIterator()
        var nextLater = later.makeIterator()
        return batch.map { item in
            switch item {
            case .ready(let result): result
            case .later: nextLater.next()!
            case .operation: CommandResult(reply: nextReply.next()!)
            }
        }
    }

    /// Runs a transaction's commands, dispatched into `outcomes`, in one
    /// SQLite transaction, all or nothing for writes (``TransactionQueue``);
    /// answers a null reply and applies nothing if a record in `watched`
    /// changed since `WATCH`.
    func exec(
        _ commands: [RESPCommand], outcomes: [CommandOutcome], watched: [WatchedRecord], tenant: TenantDatabase?
    ) -> EventLoopFuture<CommandResult> {
        var slots: [RESPValue?] = []
        var operations: [(slot: Int, operation: TenantOperation)] = []
        for (index, (command, outcome)) in zip(commands, outcomes).enumerated() {
            switch outcome {
            case .done(let result):
                if result.reply.errorMessage != nil {
                    let reply = TransactionQueue.abortedReply(
                        count: commands.count, failed: index, name: command.name, reply: result.reply)
                    return eventLoop.makeSucceededFuture(CommandResult(reply: reply))
                }
                slots.append(result.reply)
            case .tenant(let operation):
                slots.append(nil)
                operations.append((index, operation))
            case .pending:
                let refusal = CommandError(.err, "\(command.name) cannot run inside MULTI").reply
                let reply = TransactionQueue.abortedReply(
                    count: commands.count, failed: index, name: command.name, reply: refusal)
                return eventLoop.makeSucceededFuture(CommandResult(reply: reply))
            }
        }
        guard let database = operations.first?.operation.database ?? (watched.isEmpty ? nil : tenant) else {
            return eventLoop.makeSucceededFuture(CommandResult(reply: .array(slots.map { $0! })))
        }
        let logger = logger
        let queued = operations
        let promise = eventLoop.makePromise(of: [RESPValue].self)
        let checkWatched: @Sendable (TenantReader) throws -> Void = { reader in
            guard try WatchedRecord.unchanged(watched, in: reader) else { throw WatchedRecord.Changed() }
        }
        let run: @Sendable (Int, TenantOperation, () throws -> RESPValue) throws -> RESPValue = {
            slot, operation, body in
            do {
                return try body()
            } catch {
                let reply = CommandError.reply(for: error, command: operation.command, logger: logger)
                // A read that found nothing changed nothing: it answers in its slot and aborts nothing.
                if !operation.writes, reply.errorMessage?.hasPrefix("NOTFOUND") == true { return reply }
                throw TransactionQueue.Aborted(index: slot, name: operation.command, reply: reply)
            }
        }
        let reads = queued.compactMap { slot, operation in operation.body.readOnly.map { (slot, operation, $0) } }
        if reads.count == queued.count {
            database.read(
                { reader in
                    try checkWatched(reader)
                    return try reads.map { slot, operation, read in try run(slot, operation) { try read(reader) } }
                }, completion: promise.completeWith)
        } else {
            database.write(
                { writer in
                    try checkWatched(writer.reader)
                    return try queued.map { slot, operation in
                        try run(slot, operation) { try operation.body.inWrite(writer) }
                    }
                }, completion: promise.completeWith)
        }
        let fixedSlots = slots
        let count = commands.count
        return promise.futureResult.map { replies in
            var results = fixedSlots
            for (reply, entry) in zip(replies, queued) { results[entry.slot] = reply }
            return CommandResult(reply: .array(results.map { $0! }))
        }.flatMapErrorThrowing { error in
            if error is WatchedRecord.Changed { return CommandResult(reply: .null) }
            guard let aborted = error as? TransactionQueue.Aborted else { throw error }
            return CommandResult(
                reply: TransactionQueue.abortedReply(
                    count: count, failed: aborted.index, name: aborted.name, reply: aborted.reply))
        }
    }
}

extension Result where Success == RESPValue {
    /// The reply to `operation`: its value, or its error as an error reply.
    fileprivate func reply(to operation: TenantOperation, logger: Logger) -> RESPValue {
        switch self {
        case .success(let reply):
            return reply
        case .failure(let error):
            var logger = logger
            logger[metadataKey: "request_id"] = "\(operation.requestID)"
            return CommandError.reply(for: error, command: operation.command, logger: logger)
        }
    }
}
