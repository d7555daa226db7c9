import NIOCore

/// What the session tells the ``ConnectionStateHandler`` in front of it, as
/// outbound user events.
enum SessionActivity: Sendable {
    /// A command waits on storage.
    case waiting
    /// Commands ran and nothing is in flight.
    case answered
    case authenticated(Bool)
    case subscribed(Bool)
}

/// Closes connections that did not authenticate in time or sat idle too
/// long, and closes each connection at shutdown once its command in flight
/// is answered (on NIO's `ChannelShouldQuiesceEvent`, which it passes on so
/// the session stops taking queued commands). The decisions are
/// ``ConnectionStateMachine``'s; this handler keeps its timer.
final class ConnectionStateHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let services: GatewayServices
    private let now: () -> NIODeadline
    private var state: ConnectionStateMachine?
    private var check: Scheduled<Void>?

    /// `now` is the clock the deadlines are measured on; tests pass their event loop's.
    init(services: GatewayServices, now: @escaping () -> NIODeadline = NIODeadline.now) {
        self.services = services
        self.now = now
    }

    func channelActive(context: ChannelHandlerContext) {
        let configuration = services.configuration
        let state = ConnectionStateMachine(
            now: now(), idleTimeout: configuration.idleTimeout.map(TimeAmount.init),
            authTimeout: configuration.authTimeout.map(TimeAmount.init))
        self.state = state
        perform(state.firstCheck, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        state = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent, state != nil else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        context.fireUserInboundEventTriggered(event)
        let action = state?.quiesce() ?? .none
        perform(action, context: context)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let activity = event as? SessionActivity else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        guard state != nil else { return }
        switch activity {
        case .waiting: state?.commandWaiting()
        case .answered: perform(state?.commandsAnswered(now: now()) ?? .none, context: context)
        case .authenticated(let isAuthenticated): state?.authenticated(isAuthenticated)
        case .subscribed(let isSubscribed): state?.subscribed(isSubscribed)
        }
    }

    private func perform(_ action: ConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .checkAt(let deadline):
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                guard let action = self.state?.deadlineReached(now: self.now()) else { return }
                self.perform(action, context: loopContext.value)
            }
        case .close(let reason):
            check?.cancel()
            state = nil
            record(reason, context: context)
            context.close(promise: nil)
        }
    }

    private func record(_ reason: ConnectionStateMachine.Reason, context: ChannelHandlerContext) {
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        switch reason {
        case .authTimeout:
            services.statistics.authTimeouts.add(1, ordering: .relaxed)
            services.logger.info(
                "closing a connection that did not authenticate in time",
                metadata: ["peer": "\(peer)", "timeout_seconds": "\(services.configuration.authTimeout ?? .zero)"])
        case .idle:
            services.statistics.idleDisconnections.add(1, ordering: .relaxed)
            services.logger.info(
                "closing an idle connection",
                metadata: ["peer": "\(peer)", "timeout_seconds": "\(services.configuration.idleTimeout ?? .zero)"])
        case .shutdown:
            break
        }
    }
}
