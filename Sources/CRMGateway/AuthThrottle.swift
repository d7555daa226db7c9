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

    /// Records a failure; returns the number of consecutive failures and, once
    /// the address is throttled, how long it must now wait.
    @discardableResult
    func recordFailure(for address: String) -> (failures: Int, blocked: Duration?) {
        records.withLock { records in
            if records.count >= maxTrackedAddresses, records[address] == nil {
                records.removeAll()
            }
            var record = records[address, default: Record()]
            record.failures += 1
            var blocked: Duration?
            if record.failures >= failuresBeforeBlock {
                let exponent = min(record.failures - failuresBeforeBlock, 6)
                blocked = .seconds(min(60, 1 << exponent))
                record.blockedUntil = .now + blocked!
            }
            records[address] = record
            return (record.failures, blocked)
        }
    }

    /// A key id as the logs show it: only text shaped like a key id (`k_` and
    /// 12 hex digits) is logged, so a secret sent in its place never is.
    static func printableKeyID(_ keyID: String) -> String {
        let hex = keyID.utf8.dropFirst(2)
        let shaped =
            keyID.hasPrefix("k_") && hex.count == 12
            && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        return shaped ? keyID : "(not a key id)"
    }

    func recordSuccess(for address: String) {
        _ = records.withLock { $0.removeValue(forKey: address) }
    }
}
