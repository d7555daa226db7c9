import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// Decodes one connection's commands, runs them in the order they arrived
/// and writes their replies in that order.
///
/// It parses the inbound bytes itself (with ``RESPCommandDecoder``) rather
/// than behind a `ByteToMessageHandler`: a decoded command goes straight into
/// the queue, without a pipeline hop and a type-erased `NIOAny` per command.
/// A command split over reads is kept as unparsed bytes until the rest arrives.
///
/// Commands that finish at once are answered into one outbound buffer that is
/// written and flushed once per read burst; a command waiting on storage holds
/// the commands behind it, so a connection always reads its own writes. When
/// too many commands are queued, or the socket cannot take more output, the
/// handler stops reading from the socket until that clears.
///
/// A subscribed connection also receives its tenant's committed events as
/// pub/sub messages; if it falls more than the client output limit behind,
/// it is closed and can resume with `EVENTS.READ` from its last seq.
final class SessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Finish the command in flight, answer nothing more, then close (graceful shutdown).
    struct GracefulClose: Sendable {}

    private enum Pending {
        case command(RESPCommand)
        case protocolError(RESPProtocolError)
    }

    /// One command of a batch of tenant operations.
    private enum BatchItem {
        case ready(CommandResult)
        case later(EventLoopFuture<CommandResult>)
        case operation(TenantOperation)
    }

    private let services: GatewayServices
    private var decoder: RESPCommandDecoder
    /// Bytes read but not decoded yet: the start of a command still arriving.
    private var unparsed: ByteBuffer?
    /// Set once the input broke the protocol: nothing more is read from it.
    private var inputRejected = false
    private var session: Session?
    /// Where this connection's commands are counted: its event loop's shard.
    private var commandMeters: CommandMeters.Shard?
    private var pending = CircularBuffer<Pending>()
    private var inFlight = false
    /// Set while ``runQueue(context:)`` runs: a flush inside it can report
    /// writability at once, and that must not start a second, nested run.
    private var runningQueue = false
    private var closing = false
    private var readHeld = false
    private var output = ByteBuffer()
    /// Commands queued since MULTI, if a transaction is open.
    private var transaction: TransactionQueue?
    private var subscriptions = Subscriptions()
    private var eventSubscription: (hub: EventHub, token: EventHub.Token)?
    private var idleCheck: Scheduled<Void>?
    /// Set while a rate-limited connection must wait before more of its input is read.
    private var readingPaused = false
    /// The commands whose replies are still to be written, in order, with when each was read.
    private var unanswered = CircularBuffer<(command: RESPCommand, readAt: ContinuousClock.Instant)>()
    private let maxQueuedCommands = 1024
    private let maxBatchedCommands = 256
    /// Replies buffered past this size are written out before the next command runs.
    private let outputFlushThreshold = 64 * 1024

    init(services: GatewayServices) {
        self.services = services
        decoder = RESPCommandDecoder(limits: services.configuration.limits)
    }

    func channelActive(context: ChannelHandlerContext) {
        services.statistics.connectionsReceived.add(1, ordering: .relaxed)
        if services.clients.count >= services.configuration.maxClients {
            services.statistics.rejectedConnections.add(1, ordering: .relaxed)
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeRESPValue(CommandError(.err, "max number of clients reached").reply, version: .resp2)
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            closing = true
            return
        }
        session = Session(client: services.clients.register(context.channel))
        commandMeters = services.metrics.commands.shard(for: context.eventLoop)
        services.metrics.connectionOpened()
        output = context.channel.allocator.buffer(capacity: 4096)
        scheduleIdleCheck(after: services.configuration.idleTimeout, context: context)
        scheduleAuthDeadline(context: context)
        context.fireChannelActive()
    }

    /// Closes the connection if it has not authenticated within the AUTH
    /// timeout, so silent sockets cannot hold every client slot until the idle timeout.
    private func scheduleAuthDeadline(context: ChannelHandlerContext) {
        guard let timeout = services.configuration.authTimeout else { return }
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            let context = loopContext.value
            guard !self.closing, context.channel.isActive, let session = self.session, session.key == nil,
                !self.inFlight
            else { return }
            self.services.statistics.authTimeouts.add(1, ordering: .relaxed)
            self.services.logger.info(
                "closing a connection that did not authenticate in time",
                metadata: ["client": "\(session.client.id)", "timeout_seconds": "\(timeout.components.seconds)"])
            self.closing = true
            self.pending.removeAll()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopListening()
        idleCheck?.cancel()
        if let session {
            services.clients.unregister(session.client)
            services.metrics.connectionClosed()
            session.activity?.connectedClients.subtract(1, ordering: .relaxed)
            self.session?.activity = nil
        }
        closing = true
        releaseTenantIfFinished(context: context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !inputRejected else { return }
        var bytes = unwrapInboundIn(data)
        if var held = unparsed {
            unparsed = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        do {
            while let command = try decoder.next(from: &bytes) {
                pending.append(.command(command))
            }
            if bytes.readableBytes > 0 {
                // Read bytes a large command arriving in pieces would otherwise keep growing.
                if bytes.readerIndex > bytes.capacity / 2 { bytes.discardReadBytes() }
                unparsed = bytes
            }
        } catch {
            services.statistics.protocolErrors.add(1, ordering: .relaxed)
            inputRejected = true
            pending.append(.protocolError(error))
        }
        runQueue(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput(context: context)
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        services.logger.debug("closing connection after error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// A client that shuts down its sending side (`nc -N`, a script piping
    /// commands) still gets every reply: the queue drains, then the connection
    /// closes. A blocking `EVENTS.READ` is not waited for: a client that closed
    /// its socket altogether looks the same, and must not hold the connection
    /// open until the block ends.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed? = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        closing = true
        if !inFlight || unanswered.first.map({ Self.isBlockingRead($0.command) }) == true {
            flushOutput(context: context)
            context.close(promise: nil)
        }
    }

    /// Counts this connection as blocked (`INFO clients` `blocked_clients`) until `future` answers.
    private func countBlocked(until future: EventLoopFuture<CommandResult>, session: Session) {
        let statistics = services.statistics
        let activity = session.activity
        statistics.blockedClients.add(1, ordering: .relaxed)
        activity?.blockedClients.add(1, ordering: .relaxed)
        future.whenComplete { _ in
            statistics.blockedClients.subtract(1, ordering: .relaxed)
            activity?.blockedClients.subtract(1, ordering: .relaxed)
        }
    }

    private static func isBlockingRead(_ command: RESPCommand) -> Bool {
        command.name == "EVENTS.READ" && command.arguments.contains { String(buffer: $0).uppercased() == "BLOCK" }
    }

    func read(context: ChannelHandlerContext) {
        if pending.count >= maxQueuedCommands || !context.channel.isWritable || readingPaused {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            runQueue(context: context)
            if !inFlight { flushOutput(context: context) }
        }
        context.fireChannelWritabilityChanged()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is GracefulClose else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        closing = true
        pending.removeAll()
        if !inFlight {
            flushOutput(context: context)
            context.close(promise: nil)
        }
        promise?.succeed()
    }

    private func runQueue(context: ChannelHandlerContext) {
        guard !runningQueue else { return }
        runningQueue = true
        defer { runningQueue = false }
        while !outputBackedUp(context: context), !inFlight, let next = pending.popFirst() {
            guard let session else { return }
            switch next {
            case .protocolError(let error):
                output.writeRESPValue(.error("ERR \(error)"), version: session.protocolVersion)
                closeAfterFlush(context: context)
                return
            case .command(let command) where transaction != nil && !TransactionQueue.immediate.contains(command.name):
                unanswered.append((command, .now))
                queueOrRun(command, session: session, context: context)
            case .command(let command):
                let readAt = ContinuousClock.now
                unanswered.append((command, readAt))
                switch dispatch(command, at: readAt, session: session, context: context) {
                case .done(let result):
                    apply(result, context: context)
                case .pending(let future):
                    // It may wait long (EVENTS.READ BLOCK): the replies before it go out now.
                    flushOutput(context: context)
                    if Self.isBlockingRead(command) { countBlocked(until: future, session: session) }
                    wait(for: future.map { [$0] }, context: context)
                case .tenant(let operation):
                    // Only a command at the head of the queue may use the cache: one behind a write
                    // in a batch must see that write.
                    if operation.writeReplyFromCache(version: session.protocolVersion, into: &output) {
                        recordAnswered(failed: false, client: session.client)
                        continue
                    }
                    var batch = [BatchItem.operation(operation)]
                    while batch.count < maxBatchedCommands, case .command(let following)? = pending.first,
                        services.dispatcher.isTenantOperation(following)
                    {
                        pending.removeFirst()
                        let readAt = ContinuousClock.now
                        unanswered.append((following, readAt))
                        switch dispatch(following, at: readAt, session: session, context: context) {
                        case .done(let result): batch.append(.ready(result))
                        case .pending(let future): batch.append(.later(future))
                        case .tenant(let operation): batch.append(.operation(operation))
                        }
                    }
                    wait(for: execute(batch, on: operation.database, context: context), context: context)
                }
            }
        }
        resumeReadingIfClear(context: context)
    }

    /// Whether the client is not taking its replies: then its commands wait
    /// (and reading stops) until the socket drains, so a slow reader holds at
    /// most about one flush of replies in memory however much it pipelines.
    private func outputBackedUp(context: ChannelHandlerContext) -> Bool {
        if output.readableBytes >= outputFlushThreshold { flushOutput(context: context) }
        return !context.channel.isWritable && context.channel.isActive
    }

    /// Closes the connection once it has run no command for `timeout`
    /// (Redis's `timeout`): an abandoned client, or one that sent half a
    /// command and stalled. Subscribers and commands in flight are exempt.
    private func scheduleIdleCheck(after delay: Duration?, context: ChannelHandlerContext) {
        guard let timeout = services.configuration.idleTimeout, let delay else { return }
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
            let context = loopContext.value
            guard !self.closing, context.channel.isActive, let session = self.session else { return }
            let idle = ContinuousClock.now - session.client.details.withLock { $0.lastActive }
            guard idle >= timeout, !self.inFlight, session.subscriptionCount == 0 else {
                self.scheduleIdleCheck(after: max(timeout - idle, .milliseconds(100)), context: context)
                return
            }
            self.services.statistics.idleDisconnections.add(1, ordering: .relaxed)
            self.services.logger.info(
                "closing an idle connection",
                metadata: ["client": "\(session.client.id)", "idle_seconds": "\(idle.components.seconds)"])
            self.closing = true
            self.pending.removeAll()
            context.close(promise: nil)
        }
    }

    /// Stops reading for at least `milliseconds` (the retry hint the client
    /// was given) and up to twice that, so the connections of one flood, all
    /// refused at once, do not all come back in the same instant and hold the
    /// event loop from everyone else's commands.
    private func pauseReading(for milliseconds: Int, context: ChannelHandlerContext) {
        guard !readingPaused else { return }
        readingPaused = true
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let hold = milliseconds + Int.random(in: 0...milliseconds)
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(hold))) {
            self.readingPaused = false
            self.resumeReadingIfClear(context: loopContext.value)
        }
    }

    private func resumeReadingIfClear(context: ChannelHandlerContext) {
        if readHeld, pending.count < maxQueuedCommands / 2, context.channel.isWritable, !readingPaused {
            readHeld = false
            context.read()
        }
    }

    /// Inside MULTI: EXEC runs the queue, DISCARD drops it, anything else is queued.
    private func queueOrRun(_ command: RESPCommand, session: Session, context: ChannelHandlerContext) {
        switch command.name {
        case "EXEC":
            let queue = transaction!
            transaction = nil
            self.session?.watched = []
            guard !queue.failed else {
                apply(
                    CommandResult(
                        reply: CommandError(.execabort, "Transaction discarded because of previous errors.").reply),
                    context: context)
                return
            }
            wait(for: exec(queue.commands, session: session, context: context).map { [$0] }, context: context)
        case "DISCARD":
            transaction = nil
            self.session?.watched = []
            apply(CommandResult(reply: .ok), context: context)
        default:
            let reply = transaction!.enqueue(command, session: session, dispatcher: services.dispatcher)
            apply(CommandResult(reply: reply), context: context)
        }
    }

    /// Runs a transaction's commands in one SQLite transaction, all or nothing
    /// for writes (``TransactionQueue``); answers a null reply and applies
    /// nothing if a record the session watched changed since `WATCH`.
    private func exec(_ commands: [RESPCommand], session: Session, context: ChannelHandlerContext)
        -> EventLoopFuture<CommandResult>
    {
        var slots: [RESPValue?] = []
        var operations: [(slot: Int, operation: TenantOperation)] = []
        for (index, command) in commands.enumerated() {
            switch dispatch(command, at: .now, session: session, context: context) {
            case .done(let result):
                if result.reply.errorMessage != nil {
                    let reply = TransactionQueue.abortedReply(
                        count: commands.count, failed: index, name: command.name, reply: result.reply)
                    return context.eventLoop.makeSucceededFuture(CommandResult(reply: reply))
                }
                slots.append(result.reply)
            case .tenant(let operation):
                slots.append(nil)
                operations.append((index, operation))
            case .pending:
                let refusal = CommandError(.err, "\(command.name) cannot run inside MULTI").reply
                let reply = TransactionQueue.abortedReply(
                    count: commands.count, failed: index, name: command.name, reply: refusal)
                return context.eventLoop.makeSucceededFuture(CommandResult(reply: reply))
            }
        }
        let watched = session.watched
        guard let database = operations.first?.operation.database ?? (watched.isEmpty ? nil : session.tenant) else {
            return context.eventLoop.makeSucceededFuture(CommandResult(reply: .array(slots.map { $0! })))
        }
        let logger = services.logger
        let count = commands.count
        let queued = operations
        let body: @Sendable (TenantTransaction) throws -> [RESPValue] = { transaction in
            guard try WatchedRecord.unchanged(watched, in: transaction) else { throw WatchedRecord.Changed() }
            return try queued.map { slot, operation in
                do {
                    return try operation.run(transaction)
                } catch {
                    let reply = CommandDispatcher.reply(for: error, command: operation.command, logger: logger)
                    // A read that found nothing changed nothing: it answers in its slot and aborts nothing.
                    if !operation.writes, reply.errorMessage?.hasPrefix("NOTFOUND") == true { return reply }
                    throw TransactionQueue.Aborted(index: slot, name: operation.command, reply: reply)
                }
            }
        }
        let writes = queued.contains { $0.operation.writes }
        let fixedSlots = slots
        return run(body, writes: writes, on: database, eventLoop: context.eventLoop).map { replies in
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

    /// Runs `command`, read at `readAt` (the client's last activity), through the dispatcher.
    private func dispatch(
        _ command: RESPCommand, at readAt: ContinuousClock.Instant, session: Session, context: ChannelHandlerContext
    ) -> CommandOutcome {
        var buffers = ClientInfo.Buffers()
        buffers.channels = subscriptions.channels.count
        buffers.patterns = subscriptions.patterns.count
        buffers.multi = transaction?.commands.count ?? -1
        buffers.multiBytes = transaction?.byteCount ?? 0
        buffers.queryBytes = unparsed?.readableBytes ?? 0
        buffers.argumentBytes = command.arguments.reduce(0) { $0 + $1.readableBytes }
        buffers.pendingReplies = unanswered.count
        buffers.outputBytes = output.readableBytes
        let number = session.client.details.withLock { details in
            details.lastCommand = command.name
            details.lastActive = readAt
            details.commands += 1
            details.buffers = buffers
            return details.commands
        }
        let outcome = services.dispatcher.dispatch(
            command, session: session, services: services, eventLoop: context.eventLoop)
        guard case .tenant(var operation) = outcome else { return outcome }
        operation.requestID = RequestID(client: session.client.id, command: number)
        return .tenant(operation)
    }

    /// Runs a batch's operations in one transaction: a read snapshot if none
    /// writes, else one group-commit write with each operation in its own savepoint.
    private func execute(_ batch: [BatchItem], on database: TenantDatabase, context: ChannelHandlerContext)
        -> EventLoopFuture<[CommandResult]>
    {
        let operations = batch.compactMap { item -> TenantOperation? in
            if case .operation(let operation) = item { return operation }
            return nil
        }
        let logger = services.logger
        let reply: @Sendable (Result<RESPValue, any Error>, TenantOperation) -> RESPValue = { result, operation in
            switch result {
            case .success(let reply): return reply
            case .failure(let error):
                var logger = logger
                logger[metadataKey: "request_id"] = "\(operation.requestID)"
                return CommandDispatcher.reply(for: error, command: operation.command, logger: logger)
            }
        }
        let eventLoop = context.eventLoop
        let promise = eventLoop.makePromise(of: [RESPValue].self)
        // A batch that fails as a whole (its commit, or no snapshot to read) answers every command
        // in it with that error, keeping replies in step with commands.
        let answer: @Sendable (Result<[Result<RESPValue, any Error>], any Error>) -> Void = { outcome in
            let results: [Result<RESPValue, any Error>]
            switch outcome {
            case .success(let each): results = each
            case .failure(let error): results = operations.map { _ in .failure(error) }
            }
            promise.succeed(zip(results, operations).map { reply($0, $1) })
        }
        if operations.contains(where: \.writes) {
            database.writeEach(operations.map(\.run), completion: answer)
        } else {
            database.read(
                { transaction in operations.map { operation in Result { try operation.run(transaction) } } },
                completion: answer)
        }
        // Commands answered later (a blocking read in the pipeline) are waited for together; most
        // batches have none, and their replies are merged in one step, without a future per command.
        let later = batch.compactMap { item -> EventLoopFuture<CommandResult>? in
            if case .later(let future) = item { return future }
            return nil
        }
        guard !later.isEmpty else {
            return promise.futureResult.map { Self.merge(batch, replies: $0, later: []) }
        }
        return promise.futureResult.and(EventLoopFuture.whenAllSucceed(later, on: eventLoop)).map {
            Self.merge(batch, replies: $0, later: $1)
        }
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

    /// Runs `body` in one group-commit write, or on a read snapshot if nothing in it writes.
    private func run(
        _ body: @escaping @Sendable (TenantTransaction) throws -> [RESPValue], writes: Bool,
        on database: TenantDatabase, eventLoop: any EventLoop
    ) -> EventLoopFuture<[RESPValue]> {
        let promise = eventLoop.makePromise(of: [RESPValue].self)
        if writes {
            database.write(body, completion: promise.completeWith)
        } else {
            database.read(body, completion: promise.completeWith)
        }
        return promise.futureResult
    }

    /// Holds the queue until `future`'s replies are written, then goes on.
    private func wait(for future: EventLoopFuture<[CommandResult]>, context: ChannelHandlerContext) {
        inFlight = true
        future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
            self.inFlight = false
            switch result {
            case .success(let results):
                for commandResult in results { self.apply(commandResult, context: context) }
            case .failure(let error):
                self.apply(CommandResult(reply: CommandError(.err, "\(error)").reply), context: context)
            }
            self.releaseTenantIfFinished(context: context)
            self.runQueue(context: context)
            if !self.inFlight { self.flushOutput(context: context) }
            if self.closing && !self.inFlight && context.channel.isActive {
                context.close(promise: nil)
            }
        }
    }

    /// A closed connection gives its tenant database back once no command of it is in flight.
    private func releaseTenantIfFinished(context: ChannelHandlerContext) {
        guard !inFlight, !context.channel.isActive, let tenant = session?.tenant else { return }
        services.tenants.release(tenant)
        session?.tenant = nil
    }

    private func apply(_ result: CommandResult, context: ChannelHandlerContext) {
        guard var session else { return }
        var closeAfterReply = false
        var reply: RESPValue? = result.reply
        for effect in result.effects {
            switch effect {
            case .authenticated(let key, let tenant):
                // Subscriptions belong to the tenant they were made in.
                dropSubscriptions()
                session.subscriptionCount = 0
                if let previous = session.tenant { services.tenants.release(previous) }
                session.tenant = tenant
                session.key = key
                // Watched records name the previous tenant's data.
                session.watched = []
                session.activity?.connectedClients.subtract(1, ordering: .relaxed)
                session.activity = key.tenant.map(services.tenantActivity.counters(for:))
                session.activity?.connectedClients.add(1, ordering: .relaxed)
                session.activity?.connectionsReceived.add(1, ordering: .relaxed)
                session.client.details.withLock { details in
                    details.keyID = key.id
                    details.tenant = key.tenant
                    details.role = key.role
                }
            case .setName(let name):
                session.name = name
                session.client.details.withLock { $0.name = name }
            case .switchProtocol(let version):
                session.protocolVersion = version
                session.client.details.withLock { $0.protocolVersion = version.rawValue }
            case .beginTransaction:
                transaction = TransactionQueue()
            case .watch(let records):
                session.watched += records
            case .unwatch:
                session.watched = []
            case .openFeed(let name):
                session.feed = name
            case .subscriptions(let change):
                reply = nil
                for frame in subscriptions.apply(change) {
                    output.writeRESPValue(frame, version: session.protocolVersion)
                }
                session.subscriptionCount = subscriptions.count
                if subscriptions.count == 0 {
                    stopListening()
                } else if eventSubscription == nil, let hub = session.tenant?.events {
                    listen(to: hub, context: context)
                }
            case .reset:
                transaction = nil
                dropSubscriptions()
                if let tenant = session.tenant { services.tenants.release(tenant) }
                session.activity?.connectedClients.subtract(1, ordering: .relaxed)
                session = Session(client: session.client)
                session.client.details.withLock { details in
                    details.name = nil
                    details.keyID = nil
                    details.tenant = nil
                    details.role = nil
                    details.protocolVersion = 2
                }
            case .close:
                closeAfterReply = true
            case .holdReading(let milliseconds):
                pauseReading(for: milliseconds, context: context)
            }
        }
        self.session = session
        recordAnswered(failed: result.reply.errorMessage != nil, client: session.client)
        if let reply {
            if reply.errorMessage != nil {
                services.statistics.errorReplies.add(1, ordering: .relaxed)
                session.activity?.errorReplies.add(1, ordering: .relaxed)
            }
            output.writeRESPValue(reply, version: session.protocolVersion)
        }
        if closeAfterReply {
            closeAfterFlush(context: context)
        }
    }

    /// Counts the oldest unanswered command as answered now, for the metrics and slow log.
    private func recordAnswered(failed: Bool, client: ClientInfo) {
        session?.activity?.commandsProcessed.add(1, ordering: .relaxed)
        if let (command, readAt) = unanswered.popFirst(), let commandMeters {
            services.metrics.record(command, elapsed: .now - readAt, failed: failed, client: client, in: commandMeters)
        }
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        closing = true
        pending.removeAll()
        let buffer = output
        output = context.channel.allocator.buffer(capacity: 0)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func flushOutput(context: ChannelHandlerContext) {
        guard output.readableBytes > 0, context.channel.isActive else { return }
        let buffer = output
        output = context.channel.allocator.buffer(capacity: 4096)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Receives the tenant's committed events on this connection's event loop.
    private func listen(to hub: EventHub, context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let token = hub.subscribe { events in
            handler.eventLoop.execute { handler.value.deliver(events, context: boundContext.value) }
        }
        eventSubscription = (hub, token)
    }

    private func dropSubscriptions() {
        subscriptions = Subscriptions()
        stopListening()
    }

    private func stopListening() {
        guard let (hub, token) = eventSubscription else { return }
        hub.cancel(token)
        eventSubscription = nil
    }

    /// Writes committed events as pub/sub messages, or closes a subscriber
    /// that has fallen more than the client output limit behind.
    private func deliver(_ events: [CommittedEvent], context: ChannelHandlerContext) {
        guard eventSubscription != nil, !closing, let session else { return }
        let frames = subscriptions.messages(for: events)
        guard !frames.isEmpty else { return }
        for frame in frames { output.writeRESPValue(frame, version: session.protocolVersion) }
        services.statistics.pubsubMessages.add(frames.count, ordering: .relaxed)
        session.activity?.pubsubMessages.add(frames.count, ordering: .relaxed)
        let unwritten =
            ((try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0) + output.readableBytes
        guard unwritten <= services.configuration.clientOutputLimit else {
            services.statistics.outputLimitDisconnections.add(1, ordering: .relaxed)
            services.logger.notice(
                "closing a subscriber over the client output limit; it can resume with EVENTS.READ",
                metadata: [
                    "client": "\(session.client.id)", "unwritten_bytes": "\(unwritten)",
                ])
            closing = true
            pending.removeAll()
            stopListening()
            output.clear()
            context.close(promise: nil)
            return
        }
        if !inFlight { flushOutput(context: context) }
    }
}
