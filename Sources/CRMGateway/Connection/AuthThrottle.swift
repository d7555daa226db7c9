import Synchronization

/// Slows down guessing without letting one tenant's failures lock out
/// another's. Failures are counted per key id when the key exists, so a
/// wrong secret throttles only that key; failures with key ids that do not
/// exist are counted per peer address, with a much higher ceiling, since
/// many tenants' ERPs often share one egress address. After a run of
/// failures the key (or the address's unknown-key attempts) must wait: 1 s,
/// doubling to 60 s. A success clears that key's record.
final class AuthThrottle: Sendable {
    /// What a run of failures is counted against.
    enum Subject: Hashable, Sendable {
        /// A key that exists: its secret is being guessed (or was mistyped).
        case key(String)
        /// Key ids that do not exist, sent from this address.
        case unknownKeysFrom(String)
    }

    private struct Record {
        var failures = 0
        var blockedUntil: ContinuousClock.Instant?
    }

    private let failuresBeforeBlock: Int
    private let unknownKeyFailuresBeforeBlock: Int
    private let records = Mutex<[Subject: Record]>([:])
    private let maxTrackedSubjects = 100_000

    init(failuresBeforeBlock: Int, unknownKeyFailuresBeforeBlock: Int) {
        self.failuresBeforeBlock = failuresBeforeBlock
        self.unknownKeyFailuresBeforeBlock = unknownKeyFailuresBeforeBlock
    }

    /// How long `subject` must still wait, or nil if it may try now.
    func waitTime(for subject: Subject, now: ContinuousClock.Instant = .now) -> Duration? {
        records.withLock { records in
            guard let until = records[subject]?.blockedUntil else { return nil }
            let remaining = until - now
            return remaining > .zero ? remaining : nil
        }
    }

    /// Records a failure; returns the number of consecutive failures and, once
    /// the subject is throttled, how long it must now wait.
    @discardableResult
    func recordFailure(for subject: Subject, now: ContinuousClock.Instant = .now) -> (
        failures: Int, blocked: Duration?
    ) {
        let threshold: Int
        switch subject {
        case .key: threshold = failuresBeforeBlock
        case .unknownKeysFrom: threshold = unknownKeyFailuresBeforeBlock
        }
        return records.withLock { records in
            if records.count >= maxTrackedSubjects, records[subject] == nil {
                records.removeAll()
            }
            var record = records[subject, default: Record()]
            record.failures += 1
            var blocked: Duration?
            if record.failures >= threshold {
                let exponent = min(record.failures - threshold, 6)
                blocked = .seconds(min(60, 1 << exponent))
                record.blockedUntil = now + blocked!
            }
            records[subject] = record
            return (record.failures, blocked)
        }
    }

    func recordSuccess(for subject: Subject) {
        _ = records.withLock { $0.removeValue(forKey: subject) }
    }

    /// Whole seconds to tell a throttled client to wait, rounded up.
    static func retrySeconds(_ wait: Duration) -> Int {
        max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
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
}
