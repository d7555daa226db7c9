import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A gateway's ear on the other gateways sharing its PostgreSQL: one
/// connection of its own (outside the pool) that `LISTEN`s on
/// ``PostgresChangeNotice/channel`` and hands each notice of another gateway
/// to its handler. Lost, it reconnects with backoff; the handler hears when
/// it stops and starts listening, since notices sent meanwhile are lost
/// (caches must not be trusted then).
final class PostgresChangeListener: Sendable {
    /// What the listener reports.
    enum Report: Sendable {
        /// Listening (again): notices from now on arrive; any sent before may have been missed.
        case listening
        /// Not listening: notices are being missed.
        case deaf
        /// Another gateway committed.
        case notice(PostgresChangeNotice)
    }

    private let listening = Atomic<Bool>(false)
    private let received = Atomic<Int>(0)
    private let running = Mutex<Task<Void, Never>?>(nil)

    /// Whether the listener hears the other gateways now.
    var isListening: Bool { listening.load(ordering: .relaxed) }
    /// Notices of other gateways received since start.
    var notices: Int { received.load(ordering: .relaxed) }

    /// Starts listening with `configuration`, telling `handler` (on the
    /// listener's task, one report at a time) of what it hears and of its
    /// state, and skipping the notices `origin` sent.
    func start(
        configuration: PostgresConnection.Configuration, origin: String, logger: Logger,
        handler: @escaping @Sendable (Report) -> Void
    ) {
        @Sendable func report(_ report: Report) {
            switch report {
            case .listening: listening.store(true, ordering: .relaxed)
            case .deaf: listening.store(false, ordering: .relaxed)
            case .notice: received.add(1, ordering: .relaxed)
            }
            handler(report)
        }
        let task = Task {
            var backoff = Duration.milliseconds(50)
            var connectionID = 0
            while !Task.isCancelled {
                connectionID += 1
                do {
                    let connection = try await PostgresConnection.connect(
                        configuration: configuration, id: connectionID, logger: logger)
                    backoff = .milliseconds(50)
                    do {
                        try await withTaskCancellationHandler {
                            try await connection.listen(on: PostgresChangeNotice.channel) { notices in
                                report(.listening)
                                for try await notification in notices {
                                    guard let notice = PostgresChangeNotice(payload: notification.payload),
                                        notice.origin != origin
                                    else { continue }
                                    report(.notice(notice))
                                }
                            }
                        } onCancel: {
                            connection.close().whenComplete { _ in }
                        }
                    } catch {
                        try? await connection.close().get()
                        throw error
                    }
                    try? await connection.close().get()
                } catch {
                    if !Task.isCancelled {
                        logger.warning(
                            "not hearing other gateways' commits; reconnecting", metadata: ["error": "\(error)"])
                    }
                }
                report(.deaf)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        running.withLock { $0 = task }
    }

    /// Stops listening.
    func stop() async {
        let task = running.withLock { $0 }
        task?.cancel()
        await task?.value
    }
}
