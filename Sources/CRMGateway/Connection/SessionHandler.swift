import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// Decodes one connection's commands, runs them and writes their replies in
/// order. The order and flow are ``SessionStateMachine``'s; this handler
/// carries out its answers on the channel.
///
/// It parses the inbound bytes itself (with ``RESPCommandDecoder``) rather
/// than behind a `ByteToMessageHandler`: a decoded command goes straight into
/// the queue, without a pipeline hop and a type-erased `NIOAny` per command.
/// A command split over reads is kept as unparsed bytes until the rest arrives.
///
/// Commands that finish at once are answered into one outbound buffer that is
/// written and flushed once per turn of the event loop (``ReplyFlusher``), or
/// at once before a command that may wait long; consecutive tenant operations
/// run as one batch (``TenantWork``).
///
/// A subscribed connection also receives its tenant's committed events as
/// pub/sub messages; if it falls more than the client output limit behind,
/// it is closed and can resume with `EVENTS.READ` from its last seq.
final class SessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let services: GatewayServices
    /// The handler behind this one that keeps the connection's deadlines, told of its commands.
    private var connectionState: ConnectionStateHandler?
    private var decoder: RESPCommandDecoder
    /// Bytes read but not decoded yet: the start of a command still arriving.
    private var unparsed: ByteBuffer?
    private var state = SessionStateMachine()
    private var session: Session?
    /// Where this connection's commands are counted: its event loop's shard.
    private var commandMeters: CommandMeters.Shard?
    private var output = ByteBuffer()
    /// Writes `output` at the end of the event loop's turn; ``flushPending`` while it is asked to.
    private var flusher: ReplyFlusher?
    private var flushPending = false
    private var subscriptions = Subscriptions()
    private var eventSubscription: (hub: EventHub, token: EventHub.Token)?
    /// The commands whose replies are still to be written, in order, with when each was read.
    private var unanswered = CircularBuffer<(command: RESPCommand, readAt: ContinuousClock.Instant)>()
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
            state.closed()
            return
        }
        session = Session(client: services.clients.register(context.channel))
        commandMeters = services.metrics.commands.shard(for: context.eventLoop)
        flusher = services.replyFlushers.value(for: context.eventLoop)
        services.metrics.connectionOpened()
        output = context.channel.allocator.buffer(capacity: 4096)
        connectionState = try? context.pipeline.syncOperations.handler(type: ConnectionStateHandler.self)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopListening()
        if let session {
            services.clients.unregister(session.client)
            services.metrics.connectionClosed()
            session.activity?.connectedClients.subtract(1, ordering: .relaxed)
            self.session?.activity = nil
        }
        state.closed()
        releaseTenantIfFinished(context: context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.acceptsInput else { return }
        var bytes = unwrapInboundIn(data)
        if var held = unparsed {
            unparsed = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        do {
            while let command = try decoder.next(from: &bytes) {
                state.received(.command(command))
            }
            if bytes.readableBytes > 0 {
                // Read bytes a large command arriving in pieces would otherwise keep growing.
                if bytes.readerIndex > bytes.capacity / 2 { bytes.discardReadBytes() }
                unparsed = bytes
            }
        } catch {
            services.statistics.protocolErrors.add(1, ordering: .relaxed)
            state.received(.protocolError(error))
        }
        runQueue(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushAtEndOfTurn(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        services.logger.debug("closing connection after error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// A client that shuts down its sending side (`nc -N`, a script piping
    /// commands) still gets every reply. At shutdown nothing queued behind the
    /// command in flight runs; the ``ConnectionStateHandler`` then closes.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            perform(state.inputClosed(), context: context)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            state.stopTakingCommands()
            flushOutput(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        if state.readRequested(socketWritable: context.channel.isWritable) == .read { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            runQueue(context: context)
            if !state.isWaiting { flushOutput(context: context) }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Runs queued commands until one waits, the output backs up or the
    /// queue is empty; `answered` says a command in flight just answered.
    private func runQueue(context: ChannelHandlerContext, answered: Bool = false) {
        guard state.startRun() else { return }
        defer { state.endRun() }
        var ran = answered
        while let next = state.next(outputBackedUp: outputBackedUp(context: context)), let session {
            ran = true
            switch next {
            case .protocolError(let error):
                output.writeRESPValue(.error("ERR \(error)"), version: session.protocolVersion)
                closeAfterFlush(context: context)
                return
            case .command(let command):
                let readAt = ContinuousClock.now
                unanswered.append((command, readAt))
                if let step = state.transactionStep(for: command) {
                    runInTransaction(command, step: step, session: session, context: context)
                } else {
                    run(command, readAt: readAt, session: session, context: context)
                }
            }
        }
        if state.resumeReading(socketWritable: context.channel.isWritable) == .read { context.read() }
        guard ran, !state.isWaiting, !state.isClosing else { return }
        // At shutdown the state handler closes on this report: the replies go out first.
        if state.isStopped { flushOutput(context: context) }
        connectionState?.commandsAnswered()
    }

    /// Runs a command outside MULTI: at once, after other work, or as the
    /// head of a batch of the tenant operations queued behind it.
    private func run(
        _ command: RESPCommand, readAt: ContinuousClock.Instant, session: Session, context: ChannelHandlerContext
    ) {
        switch dispatch(command, at: readAt, session: session, context: context) {
        case .done(let result):
            apply(result, context: context)
        case .pending(let future):
            // It may wait long (EVENTS.READ BLOCK): the replies before it go out now.
            flushOutput(context: context)
            let blockingRead = Self.isBlockingRead(command)
            if blockingRead { countBlocked(until: future, session: session) }
            wait(for: future.map { [$0] }, blockingRead: blockingRead, context: context)
        case .tenant(let operation):
            // Only a command at the head of the queue may use the cache: one behind a write
            // in a batch must see that write.
            if operation.writeReplyFromCache(version: session.protocolVersion, into: &output) {
                recordAnswered(failed: false, client: session.client)
                return
            }
            var batch = [TenantWork.BatchItem.operation(operation)]
            // A blocking read joins no batch: the replies before it must not wait for it.
            let dispatcher = services.dispatcher
            let joins = { (command: RESPCommand) in
                dispatcher.isTenantOperation(command) && !Self.isBlockingRead(command)
            }
            while let following = state.nextInBatch(count: batch.count, joins: joins) {
                let readAt = ContinuousClock.now
                unanswered.append((following, readAt))
                switch dispatch(following, at: readAt, session: session, context: context) {
                case .done(let result): batch.append(.ready(result))
                case .pending(let future): batch.append(.later(future))
                case .tenant(let operation): batch.append(.operation(operation))
                }
            }
            switch work(context).execute(batch, on: operation.database) {
            case .now(let results):
                for result in results { apply(result, context: context) }
            case .later(let future):
                wait(for: future, context: context)
            }
        }
    }

    /// Inside MULTI: EXEC runs the queue, DISCARD drops it, anything else is queued.
    private func runInTransaction(
        _ command: RESPCommand, step: SessionStateMachine.TransactionStep, session: Session,
        context: ChannelHandlerContext
    ) {
        switch step {
        case .exec(let queue):
            self.session?.watched = []
            guard !queue.failed else {
                let abort = CommandError(.execabort, "Transaction discarded because of previous errors.")
                apply(CommandResult(reply: abort.reply), context: context)
                return
            }
            let outcomes = queue.commands.map { dispatch($0, at: .now, session: session, context: context) }
            let exec = work(context).exec(
                queue.commands, outcomes: outcomes, watched: session.watched, tenant: session.tenant)
            wait(for: exec.map { [$0] }, context: context)
        case .discard:
            self.session?.watched = []
            apply(CommandResult(reply: .ok), context: context)
        case .enqueue:
            let refusal = TransactionQueue.refusal(of: command, session: session, dispatcher: services.dispatcher)
            apply(CommandResult(reply: state.enqueue(command, refusal: refusal)), context: context)
        }
    }

    private func work(_ context: ChannelHandlerContext) -> TenantWork {
        TenantWork(logger: services.logger, eventLoop: context.eventLoop)
    }

    /// Whether the client is not taking its replies: then its commands wait
    /// (and reading stops) until the socket drains, so a slow reader holds at
    /// most about one flush of replies in memory however much it pipelines.
    private func outputBackedUp(context: ChannelHandlerContext) -> Bool {
        if output.readableBytes >= outputFlushThreshold { flushOutput(context: context) }
        return !context.channel.isWritable && context.channel.isActive
    }

    private static func isBlockingRead(_ command: RESPCommand) -> Bool {
        command.name == "EVENTS.READ" && command.arguments.contains { String(buffer: $0).uppercased() == "BLOCK" }
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

    /// Stops reading for at least `milliseconds` (the retry hint the client
    /// was given) and up to twice that, so the connections of one flood, all
    /// refused at once, do not all come back in the same instant and hold the
    /// event loop from everyone else's commands.
    private func pauseReading(for milliseconds: Int, context: ChannelHandlerContext) {
        guard state.pauseReading() else { return }
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let hold = milliseconds + Int.random(in: 0...milliseconds)
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(hold))) {
            let context = loopContext.value
            if self.state.pauseEnded(socketWritable: context.channel.isWritable) == .read { context.read() }
        }
    }

    /// Runs `command`, read at `readAt` (the client's latest activity), through the dispatcher.
    private func dispatch(
        _ command: RESPCommand, at readAt: ContinuousClock.Instant, session: Session, context: ChannelHandlerContext
    ) -> CommandOutcome {
        var buffers = ClientInfo.Buffers()
        buffers.channels = subscriptions.channels.count
        buffers.patterns = subscriptions.patterns.count
        buffers.multi = state.transaction?.commands.count ?? -1
        buffers.multiBytes = state.transaction?.byteCount ?? 0
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

    /// Holds the queue until `future`'s replies are written, then goes on.
    private func wait(
        for future: EventLoopFuture<[CommandResult]>, blockingRead: Bool = false, context: ChannelHandlerContext
    ) {
        state.waiting(blockingRead: blockingRead)
        connectionState?.commandWaiting()
        future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
            self.state.answered()
            switch result {
            case .success(let results):
                for commandResult in results { self.apply(commandResult, context: context) }
            case .failure(let error):
                let command = self.unanswered.first?.command.name ?? "?"
                let reply = CommandError.reply(for: error, command: command, logger: self.services.logger)
                self.apply(CommandResult(reply: reply), context: context)
            }
            self.releaseTenantIfFinished(context: context)
            self.runQueue(context: context, answered: true)
            if !self.state.isWaiting && self.state.closesNow && context.channel.isActive {
                // The last replies go out before the close, not at the end of the turn.
                self.flushOutput(context: context)
                context.close(promise: nil)
                return
            }
            // With the next batch in flight, the replies before it go out now rather than after it.
            self.flushAtEndOfTurn(context: context)
        }
    }

    /// A closed connection gives its tenant back once no command of it is in flight.
    private func releaseTenantIfFinished(context: ChannelHandlerContext) {
        guard !state.isWaiting, !context.channel.isActive else { return }
        session?.hold(nil)
    }

    private func apply(_ result: CommandResult, context: ChannelHandlerContext) {
        guard var session else { return }
        var closeAfterReply = false
        var reply: RESPValue? = result.reply
        for effect in result.effects {
            switch effect {
            case .authenticated(let key, let lease):
                // Subscriptions belong to the tenant they were made in.
                dropSubscriptions(context: context)
                session.subscriptionCount = 0
                session.authenticate(
                    key, lease: lease, activity: key.tenant.map(services.tenantActivity.counters(for:)))
                connectionState?.authenticated(true)
            case .setName(let name):
                session.name = name
                session.client.details.withLock { $0.name = name }
            case .switchProtocol(let version):
                session.protocolVersion = version
                session.client.details.withLock { $0.protocolVersion = version.rawValue }
            case .beginTransaction:
                state.beginTransaction()
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
                connectionState?.subscribed(subscriptions.count > 0)
            case .reset:
                state.endTransaction()
                dropSubscriptions(context: context)
                session.reset()
                connectionState?.reset()
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

    private func perform(_ action: SessionStateMachine.CloseAction, context: ChannelHandlerContext) {
        guard action == .closeNow else { return }
        flushOutput(context: context)
        context.close(promise: nil)
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        _ = state.close()
        let buffer = output
        output = context.channel.allocator.buffer(capacity: 0)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Writes the buffered replies once the event loop has run every readable
    /// connection's commands (``ReplyFlusher``), together with theirs.
    private func flushAtEndOfTurn(context: ChannelHandlerContext) {
        guard output.readableBytes > 0, !flushPending else { return }
        guard let flusher else { return flushOutput(context: context) }
        flushPending = true
        flusher.flushLater {
            self.flushPending = false
            self.flushOutput(context: context)
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

    private func dropSubscriptions(context: ChannelHandlerContext) {
        subscriptions = Subscriptions()
        stopListening()
        connectionState?.subscribed(false)
    }

    private func stopListening() {
        guard let (hub, token) = eventSubscription else { return }
        hub.cancel(token)
        eventSubscription = nil
    }

    /// Writes committed events as pub/sub messages, or closes a subscriber
    /// that has fallen more than the client output limit behind.
    private func deliver(_ events: [CommittedEvent], context: ChannelHandlerContext) {
        guard eventSubscription != nil, !state.isClosing, let session else { return }
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
            _ = state.close()
            stopListening()
            output.clear()
            context.close(promise: nil)
            return
        }
        if !state.isWaiting { flushOutput(context: context) }
    }
}
