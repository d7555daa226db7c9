import CRMStore
import Synchronization

/// Token buckets by name (a tenant, a key): each refills at `rate` commands per
/// second up to `burst`; a command finding its bucket empty is refused with the
/// time until the next token.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let rate: Int
    let burst: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    init(rate: Int, burst: Int) {
        self.rate = rate
        self.burst = burst
    }

    /// The shortest wait a refused command is told (and its connection held):
    /// long enough that a flood costs a few reads per second per connection.
    static let minimumRetryMilliseconds = 100

    /// Takes a token from `name`'s bucket; returns nil if there was one, or the
    /// milliseconds to wait before trying again.
    func take(_ name: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[name] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(Double(burst), bucket.tokens + seconds * Double(rate))
            bucket.updated = now
            defer { buckets[name] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            let untilNextToken = Int(((1 - bucket.tokens) / Double(rate) * 1000).rounded(.up))
            return max(Self.minimumRetryMilliseconds, untilNextToken)
        }
    }
}

/// The operator's per-tenant and per-key command rate limits (`--tenant-rate`, `--key-rate`).
struct RateLimits: Sendable {
    let tenants: RateLimiter?
    let keys: RateLimiter?

    init(configuration: GatewayConfiguration) {
        tenants = configuration.tenantRateLimit.map { RateLimiter(rate: $0, burst: $0) }
        keys = configuration.keyRateLimit.map { RateLimiter(rate: $0, burst: $0) }
    }

    /// A command of `key` over a limit: the `-LIMIT` error and how long until it may retry; nil to run it.
    func check(_ key: KeyInfo) -> (error: CommandError, milliseconds: Int)? {
        if let tenant = key.tenant, let tenants, let wait = tenants.take(tenant) {
            return (Self.error("tenant \(tenant)", limiter: tenants, wait: wait), wait)
        }
        if let keys, let wait = keys.take(key.id) {
            return (Self.error("key \(key.id)", limiter: keys, wait: wait), wait)
        }
        return nil
    }

    private static func error(_ subject: String, limiter: RateLimiter, wait: Int) -> CommandError {
        CommandError(.limit, "rate limit of \(limiter.rate) commands/s for \(subject) reached; retry in \(wait) ms")
    }
}
