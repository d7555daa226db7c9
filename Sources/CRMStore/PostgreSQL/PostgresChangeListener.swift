import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A gateway's link to the other gateways sharing its PostgreSQL: one
/// connection of its own (outside the pool) that `LISTEN`s on ``channel``,
/// hands each other gateway's change notice to its handler, and beats with
/// acknowledgements (``PostgresGatewayPeers``). Lost, it reconnects with
/// backoff; the handler hears when it stops and starts listening, since
/// notices sent meanwhile are lost (caches must not be trusted then).
final class PostgresChangeListener: Sendable {
    /// The channel every gateway listens on.
    static let channel = "crmgate_changes"

    /// What the listener reports.
    enum Report: Sendable {
        /// Listening (again): notices from now on arrive; any sent before may have been missed.
        case listening
        /// Not listening: notices are being missed.
        case deaf
        /// Another gateway committed.
        case notice(PostgresChangeNotice)
        /// Another gateway's catalog change took access away.
        case withdrawn(AccessWithdrawal)
    }

    let peers: PostgresGatewayPeers
    private let listening = Atomic<Bool>(false)
    private let received = Atomic<Int>(0)
    private let running = Mutex<Task<Void, Never>?>(nil)

    init(origin: String, trust: CacheTrust) {
        peers = PostgresGatewayPeers(origin: origin, trust: trust)
    }

    /// Whether the listener hears the other gateways now.
    var isListening: Bool { listening.load(ordering: .relaxed) }
    /// Notices of other gateways received since start.
    var notices: Int { received.load(ordering: .relaxed) }

    /// Starts listening with `configuration`, telling `handler` (on the
    /// listener's task, one report at a time) of what it hears and of its state.
    func start(
        configuration: PostgresConnection.Configuration, logger: Logger,
        handler: @escaping @Sendable (Report) -> Void
    ) {
        let task = Task {
            var backoff = Duration.milliseconds(50)
            var connectionID = 0
            while !Task.isCancelled {
                connectionID += 1
                do {
                    let connection = try await PostgresConnection.connect(
                        configuration: configuration, id: connectionID, logger: logger)
                    backoff = .milliseconds(50)
                    // Ended when the connection closes: a query on a connection closing was seen never to be answered.
                    let session = Task { try await listen(on: connection, handler: handler) }
                    connection.closeFuture.whenComplete { _ in session.cancel() }
                    let ended = await withTaskCancellationHandler {
                        await session.result
                    } onCancel: {
                        session.cancel()
                    }
                    try? await connection.close().get()
                    try ended.get()
                } catch {
                    // Once per outage, not at every attempt.
                    if !Task.isCancelled, backoff == .milliseconds(50) {
                        logger.warning(
                            "not hearing other gateways' commits; reconnecting",
                            metadata: ["error": "\(PostgresStore.reason(error))"])
                    }
                }
                listening.store(false, ordering: .relaxed)
                peers.deaf()
                handler(.deaf)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        running.withLock { $0 = task }
    }

    /// Listens on `connection` and beats on it until either fails or the task is cancelled.
    private func listen(on connection: PostgresConnection, handler: @escaping @Sendable (Report) -> Void)
        async throws
    {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await withTaskCancellationHandler {
            try await connection.listen(on: Self.channel) { notifications in
                try Task.checkCancellation()
                listening.store(true, ordering: .relaxed)
                handler(.listening)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.beat(on: connection, wakeups: wakeups) }
                    group.addTask {
                        for try await notification in notifications {
                            self.route(notification.payload, handler: handler, wake: wake)
                        }
                        throw PostgresChangeListenerEnded()
                    }
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
        } onCancel: {
            connection.close().whenComplete { _ in }
        }
    }

    /// Sends beats every ``PostgresGatewayPeers/beatInterval``, and at once when acknowledgements are due.
    private func beat(on connection: PostgresConnection, wakeups: AsyncStream<Void>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (ticks, tick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                while !Task.isCancelled {
                    tick.yield()
                    try await Task.sleep(for: PostgresGatewayPeers.beatInterval)
                }
            }
            group.addTask {
                for await _ in wakeups { tick.yield() }
            }
            for await _ in ticks {
                for beat in peers.beats() {
                    var binds = PostgresBindings(capacity: 2)
                    binds.append(Self.channel)
                    binds.append(beat.payload)
                    try await Self.answer(
                        connection.query(
                            PostgresQuery(unsafeSQL: "SELECT pg_notify($1, $2) AS beat", binds: binds),
                            logger: connection.logger))
                }
            }
            group.cancelAll()
        }
    }

    /// Waits for `query`'s answer, or until the task is cancelled (the connection closed).
    private static func answer(_ query: EventLoopFuture<PostgresQueryResult>) async throws {
        let waiting = Mutex<CheckedContinuation<Void, any Error>?>(nil)
        @Sendable func resume(_ result: Result<Void, any Error>) {
            waiting.withLock { continuation in
                defer { continuation = nil }
                return continuation
            }?.resume(with: result)
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiting.withLock { $0 = continuation }
                if Task.isCancelled { resume(.failure(CancellationError())) }
                query.whenComplete { resume($0.map { _ in }) }
            }
        } onCancel: {
            resume(.failure(CancellationError()))
        }
    }

    /// Acts on one notification: another gateway's change (its handler first, then the acknowledgement), a beat, or an echo.
    private func route(
        _ payload: String, handler: @Sendable (Report) -> Void, wake: AsyncStream<Void>.Continuation
    ) {
        if let beat = PostgresBeat(payload: payload) {
            peers.heard(beat)
        } else if let (origin, withdrawal) = AccessWithdrawal.parse(payload) {
            if origin != peers.origin { handler(.withdrawn(withdrawal)) }
        } else if let notice = PostgresChangeNotice(payload: payload) {
            if notice.origin == peers.origin {
                peers.echoed(notice)
            } else {
                received.add(1, ordering: .relaxed)
                handler(.notice(notice))
                if peers.acted(on: notice) { wake.yield() }
            }
        }
    }

    /// Stops listening.
    func stop() async {
        let task = running.withLock { $0 }
        task?.cancel()
        await task?.value
    }
}

/// The server ended the listening connection's notifications.
private struct PostgresChangeListenerEnded: Error {}
