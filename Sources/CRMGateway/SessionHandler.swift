import CRMCore
import CRMProtocol
import Logging
import NIOCore

/// Runs one connection's commands in the order they arrived and writes their
/// replies in that order.
///
/// Commands that finish at once are answered into one outbound buffer that is
/// written and flushed once per read burst; a command waiting on storage holds
/// the commands behind it, so a connection always reads its own writes. When
/// too many commands are queued the handler stops reading from the socket
/// until the queue drains.
final class SessionHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPCommand
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Finish the command in flight, answer nothing more, then close (graceful shutdown).
    struct GracefulClose: Sendable {}

    private enum Pending {
        case command(RESPCommand)
        case protocolError(RESPProtocolError)
    }

    private let services: GatewayServices
    private var session: Session?
    private var pending = CircularBuffer<Pending>()
    private var inFlight = false
    private var closing = false
    private var readHeld = false
    private var output = ByteBuffer()
    private let maxQueuedCommands = 1024

    init(services: GatewayServices) {
        self.services = services
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
        output = context.channel.allocator.buffer(capacity: 4096)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session {
            services.clients.unregister(session.client)
            if let tenant = session.tenant, !inFlight { services.tenants.release(tenant) }
        }
        closing = true
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        pending.append(.command(unwrapInboundIn(data)))
        runQueue(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput(context: context)
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let protocolError = error as? RESPProtocolError, !closing {
            services.statistics.protocolErrors.add(1, ordering: .relaxed)
            pending.append(.protocolError(protocolError))
            runQueue(context: context)
            flushOutput(context: context)
        } else {
            services.logger.debug("closing connection after error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        if pending.count >= maxQueuedCommands {
            readHeld = true
        } else {
            context.read()
        }
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
        while !inFlight, let next = pending.popFirst() {
            guard let session else { return }
            switch next {
            case .protocolError(let error):
                output.writeRESPValue(.error("ERR \(error)"), version: session.protocolVersion)
                closeAfterFlush(context: context)
                return
            case .command(let command):
                session.client.details.withLock { details in
                    details.lastCommand = command.name
                    details.lastActive = .now
                    details.commands += 1
                }
                services.statistics.commandsProcessed.add(1, ordering: .relaxed)
                switch services.dispatcher.dispatch(
                    command, session: session, services: services, eventLoop: context.eventLoop)
                {
                case .done(let result):
                    apply(result, context: context)
                case .pending(let future):
                    inFlight = true
                    future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                        self.inFlight = false
                        switch result {
                        case .success(let commandResult):
                            self.apply(commandResult, context: context)
                        case .failure(let error):
                            self.apply(CommandResult(reply: CommandError(.err, "\(error)").reply), context: context)
                        }
                        if self.closing, let tenant = self.session?.tenant, !context.channel.isActive {
                            self.services.tenants.release(tenant)
                            self.session?.tenant = nil
                        }
                        self.runQueue(context: context)
                        if !self.inFlight { self.flushOutput(context: context) }
                        if self.closing && !self.inFlight && context.channel.isActive {
                            context.close(promise: nil)
                        }
                    }
                }
            }
        }
        if readHeld, pending.count < maxQueuedCommands / 2 {
            readHeld = false
            context.read()
        }
    }

    private func apply(_ result: CommandResult, context: ChannelHandlerContext) {
        guard var session else { return }
        var closeAfterReply = false
        for effect in result.effects {
            switch effect {
            case .authenticated(let key, let tenant):
                if let previous = session.tenant { services.tenants.release(previous) }
                if !context.channel.isActive, let tenant {
                    services.tenants.release(tenant)
                    session.tenant = nil
                } else {
                    session.tenant = tenant
                }
                session.key = key
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
            case .reset:
                if let tenant = session.tenant { services.tenants.release(tenant) }
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
            }
        }
        self.session = session
        if result.reply.errorMessage != nil {
            services.statistics.errorReplies.add(1, ordering: .relaxed)
        }
        output.writeRESPValue(result.reply, version: session.protocolVersion)
        if closeAfterReply {
            closeAfterFlush(context: context)
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
}
