import Synchronization

/// The PostgreSQL store's pool and round trips, for `INFO` and metrics.
public final class PostgresMetrics: Sendable {
    private let inFlight = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)
    private let statements = Atomic<Int>(0)
    private let statementNanoseconds = Atomic<Int>(0)

    /// Transactions running or waiting for a connection now.
    public var transactionsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// Transactions that failed (the server's errors and unreachable servers alike).
    public var errors: Int { failures.load(ordering: .relaxed) }
    /// Statements sent since start.
    public var statementCount: Int { statements.load(ordering: .relaxed) }

    /// The mean time from sending a statement to its last row, in microseconds.
    public var meanRoundTripMicroseconds: Double {
        let count = statements.load(ordering: .relaxed)
        return count == 0 ? 0 : Double(statementNanoseconds.load(ordering: .relaxed)) / Double(count) / 1000
    }

    func started() { inFlight.add(1, ordering: .relaxed) }

    func finished() { inFlight.subtract(1, ordering: .relaxed) }

    func failed() { failures.add(1, ordering: .relaxed) }

    func roundTrip(_ elapsed: Duration) {
        statements.add(1, ordering: .relaxed)
        let (seconds, attoseconds) = elapsed.components
        statementNanoseconds.add(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000), ordering: .relaxed)
    }
}
