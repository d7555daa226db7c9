import Synchronization

/// What makes a gateway's record caches safe beside other gateways writing
/// the same PostgreSQL: a lease for its own caches, and, for its own writes,
/// a wait until every other gateway has acted on them.
///
/// - A gateway whose caches are in use sends a leasing beat on the channel
///   every ``beatInterval``. When its own beat comes back, it has read every
///   notice committed before that beat was sent, so its caches may serve
///   until ``lease`` after the sending. Idle, it does not beat, and no write
///   waits for it once ``peerExpiry`` has passed since its last leasing beat.
/// - A gateway acknowledges each other gateway's notice in its next beat,
///   once it has forgotten the records the notice names (it beats at once
///   then), while the others may still wait for it.
/// - A write is answered once its own notice has come back (every gateway
///   beating before the commit is then known) and each of those gateways
///   acknowledged it, or after ``confirmationLimit``: a gateway that has not
///   acknowledged by then sent every beat it heard back before the commit,
///   so its lease ran out, and its caches serve nothing until it has read the notice.
///
/// PostgreSQL delivers notifications in commit order to every listener, which is what this relies on.
final class PostgresGatewayPeers: Sendable {
    /// How long a returned beat lets the caches serve, from when it was sent.
    static let lease = Duration.milliseconds(500)
    static let beatInterval = Duration.milliseconds(100)
    /// The longest a write waits for acknowledgements: past every lease that could have missed it.
    static let confirmationLimit = lease + beatInterval
    /// A gateway not heard from for this long is no longer waited for: its lease ran out.
    static let peerExpiry = lease + beatInterval
    /// A gateway beats while its caches were asked within this long (and to acknowledge); idle, it is silent.
    static let beatingAfterUse = Duration.seconds(2)

    /// What has come back for one of this gateway's notices.
    private struct Confirmation {
        var echoed = false
        /// The other gateways to wait for, known once the notice is echoed.
        var required: Set<String> = []
        var acknowledged: Set<String> = []

        var isDone: Bool { echoed && required.isSubset(of: acknowledged) }
    }

    private struct Waiter {
        var confirmation: Confirmation
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var nextBeat = 1
        /// When each of this gateway's beats still on its way was sent.
        var beatsSent: [Int: ContinuousClock.Instant] = [:]
        /// When each other gateway last beat.
        var peers: [String: ContinuousClock.Instant] = [:]
        /// Other gateways' notices acted on and not yet acknowledged.
        var toAcknowledge: [PostgresBeat.Acknowledgement] = []
        /// Own writes waiting for confirmation, by notice number.
        var waiters: [Int: Waiter] = [:]
        /// Echoes and acknowledgements (by notice number) that came before their write waited, or after it stopped.
        var early: [Int: Confirmation] = [:]

        /// Notes what came for notice `number`: on its waiter, resumed if that is all
        /// it waited for (returned), or kept for it (the newest few thousand).
        mutating func note(_ number: Int, _ change: (inout Confirmation) -> Void) -> CheckedContinuation<Void, Never>? {
            guard waiters[number] != nil else {
                if early.count >= 4096 {
                    let oldestKept = early.keys.sorted()[early.count - 2048]
                    early = early.filter { $0.key >= oldestKept }
                }
                change(&early[number, default: Confirmation()])
                return nil
            }
            change(&waiters[number]!.confirmation)
            return waiters[number]!.confirmation.isDone ? waiters.removeValue(forKey: number)!.continuation : nil
        }
    }

    let origin: String
    private let trust: CacheTrust
    private let state = Mutex(State())
    private let nextNotice = Atomic<Int>(1)

    init(origin: String, trust: CacheTrust) {
        self.origin = origin
        self.trust = trust
    }

    /// The number of this gateway's next change notice.
    func noticeNumber() -> Int {
        nextNotice.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The beats to send now (one, or more when many acknowledgements are due), noting when:
    /// leasing while the caches are in use (``CacheTrust/wasWanted(within:)``), and none if
    /// they are not and no acknowledgement is due.
    func beats() -> [PostgresBeat] {
        let leasing = trust.wasWanted(within: Self.beatingAfterUse)
        return state.withLock { state in
            guard leasing || !state.toAcknowledge.isEmpty else { return [] }
            let beats = PostgresBeat.split(
                origin: origin, firstNumber: state.nextBeat, leasing: leasing,
                acknowledgements: state.toAcknowledge)
            state.toAcknowledge.removeAll()
            state.nextBeat += beats.count
            if leasing {
                let now = ContinuousClock.now
                for beat in beats { state.beatsSent[beat.number] = now }
            }
            return beats
        }
    }

    /// A beat came back: this gateway's own (its lease renews), or another's (it is alive; it may acknowledge writes).
    func heard(_ beat: PostgresBeat) {
        if beat.origin == origin {
            let sent = state.withLock { state in
                let sent = state.beatsSent[beat.number]
                state.beatsSent = state.beatsSent.filter { $0.key > beat.number }
                return sent
            }
            if let sent { trust.renew(until: sent + Self.lease) }
            return
        }
        var resume: [CheckedContinuation<Void, Never>] = []
        state.withLock { state in
            if beat.leasing { state.peers[beat.origin] = .now }
            for acknowledgement in beat.acknowledgements where acknowledgement.origin == origin {
                if let done = state.note(acknowledgement.number, { $0.acknowledged.insert(beat.origin) }) {
                    resume.append(done)
                }
            }
        }
        for continuation in resume { continuation.resume() }
    }

    /// Another gateway's notice was acted on: acknowledge it in the next beat, if that gateway
    /// may be waiting for it (this one sent a leasing beat within ``peerExpiry``, give or take a beat).
    /// Returns whether an acknowledgement is due.
    func acted(on notice: PostgresChangeNotice) -> Bool {
        guard trust.wasWanted(within: Self.beatingAfterUse + Self.peerExpiry + Self.beatInterval) else { return false }
        state.withLock { $0.toAcknowledge.append(.init(origin: notice.origin, number: notice.number)) }
        return true
    }

    /// This gateway's own notice came back: every gateway beating before it is known; those are waited for.
    func echoed(_ notice: PostgresChangeNotice) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            let cutoff = ContinuousClock.now - Self.peerExpiry
            let required = Set(state.peers.filter { $0.value > cutoff }.keys)
            return state.note(notice.number) { confirmation in
                confirmation.echoed = true
                confirmation.required = required
            }
        }
        continuation?.resume()
    }

    /// Returns once the write that sent notice `number` is confirmed: known to every other gateway, or past every lease.
    func confirm(_ number: Int) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                let confirmation = state.early.removeValue(forKey: number) ?? Confirmation()
                if confirmation.isDone { return true }
                state.waiters[number] = Waiter(confirmation: confirmation, continuation: continuation)
                return false
            }
            if done {
                continuation.resume()
                return
            }
            Task { [self] in
                try? await Task.sleep(for: Self.confirmationLimit)
                state.withLock { $0.waiters.removeValue(forKey: number) }?.continuation.resume()
            }
        }
    }

    /// The listener lost its connection: its caches stop serving at once, and nothing it was told of counts.
    func deaf() {
        trust.withdraw()
        state.withLock { state in
            state.beatsSent.removeAll()
            state.toAcknowledge.removeAll()
            state.early.removeAll()
        }
    }
}
