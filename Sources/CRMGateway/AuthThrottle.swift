import Synchronization

/// Slows down guessing: after a run of failed AUTHs from one peer address,
/// that address must wait (1 s, doubling to 60 s) before trying again.
/// A success clears its record.
final class AuthThrottle: Sendable {
    private struct Record {
        var failures = 0
        var blockedUntil: ContinuousClock.Instant?
    }

    private let failuresBeforeBlock: Int
    private let records = Mutex<[String: Record]>([:])
    private let maxTrackedAddresses = 100_000

    init(failuresBeforeBlock: Int) {
        self.failuresBeforeBlock = failuresBeforeBlock
    }

    /// How long `address` must still wait, or nil if it may try now.
    func waitTime(for address: String) -> Duration? {
        records.withLock { records in
            guard let until = records[address]?.blockedUntil else { return nil }
            let remaining = until - .now
            return remaining > .zero ? remaining : nil
        }
    }

    /// Records a failure; returns the number of consecutive failures.
    @discardableResult
    func recordFailure(for address: String) -> Int {
        records.withLock { records in
            if records.count >= maxTrackedAddresses, records[address] == nil {
                records.removeAll()
            }
            var record = records[address, default: Record()]
            record.failures += 1
            if record.failures >= failuresBeforeBlock {
                let exponent = min(record.failures - failuresBeforeBlock, 6)
                record.blockedUntil = .now + .seconds(min(60, 1 << exponent))
            }
            records[address] = record
            return record.failures
        }
    }

    func recordSuccess(for address: String) {
        _ = records.withLock { $0.removeValue(forKey: address) }
    }
}
