import NIOCore

/// Closes connections that did not authenticate in time or sat idle too
/// long, and closes each connection at shutdown once its command in flight
/// is answered (on NIO's `ChannelShouldQuiesceEvent`). The decisions are
/// ``ConnectionStateMachine``'s; this handler keeps its timer.
///
/// It sits behind the ``SessionHandler``, which consumes the connection's
/// bytes, so reads and replies do not pass through it; the session reports
/// its commands with direct calls on the event loop.
final class ConnectionStateHandler: ChannelInboundHandler {
    typealias InboundIn = Never

    private let services: GatewayServices
    private let now: () -> NIODeadline
    private var state: ConnectionStateMachine?
    private var check: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// `now` is the clock the deadlines are measured on; tests pass their event loop's.
    init(services: GatewayServices, now: @escaping () -> NIODeadline = NIODeadline.now) {
        self.services = services
        self.now = now
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let configuration = services.configuration
        let state = ConnectionStateMachine(
            now: now(), idleTimeout: configuration.idleTimeout.map(TimeAmount.init),
            authTimeout: configuration.authTimeout.map(TimeAmount.init))
        self.state = state
        perform(state.firstCheck)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        state = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, let action = state?.quiesce() {
            perform(action)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A command of the session waits on storage.
    func commandWaiting() { state?.commandWaiting() }

    /// The session ran commands and has none in flight.
    func commandsAnswered() {
        guard let action = state?.commandsAnswered(now: now()) else { return }
        perform(action)
    }

    func authenticated(_ isAuthenticated: Bool) { state?.authenticated(isAuthenticated) }

    /// The session was RESET: it must authenticate again within the AUTH timeout.
    func reset() {
        guard let action = state?.reset(now: now()) else { return }
        perform(action)
    }

    func subscribed(_ isSubscribed: Bool) { state?.subscribed(isSubscribed) }

    private func perform(_ action: ConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .checkAt(let deadline):
            // One check at a time: this one replaces any still scheduled.
            check?.cancel()
            check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                guard let action = self.state?.deadlineReached(now: self.now()) else { return }
                self.perform(action)
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
