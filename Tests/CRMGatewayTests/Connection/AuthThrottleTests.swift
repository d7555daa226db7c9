import Testing

@testable import CRMGateway

/// The AUTH throttle on a fake clock: instants are passed in, nothing sleeps.
@Suite struct AuthThrottleTests {
    private let start = ContinuousClock.now

    @Test func failuresPastTheThresholdWaitDoublingToAMinuteAndASuccessClearsThem() {
        let throttle = AuthThrottle(failuresBeforeBlock: 3, unknownKeyFailuresBeforeBlock: 100)
        let key = AuthThrottle.Subject.key("k_000000000001")
        #expect(throttle.recordFailure(for: key, now: start).blocked == nil)
        #expect(throttle.recordFailure(for: key, now: start).blocked == nil)
        #expect(throttle.recordFailure(for: key, now: start).blocked == .seconds(1))
        #expect(throttle.waitTime(for: key, now: start + .milliseconds(400)) == .milliseconds(600))
        #expect(throttle.waitTime(for: key, now: start + .seconds(1)) == nil, "the wait is over at its end")
        #expect(throttle.recordFailure(for: key, now: start + .seconds(1)).blocked == .seconds(2))
        for _ in 0..<10 { throttle.recordFailure(for: key, now: start + .seconds(2)) }
        #expect(throttle.waitTime(for: key, now: start + .seconds(2)) == .seconds(60), "capped at a minute")
        throttle.recordSuccess(for: key)
        #expect(throttle.waitTime(for: key, now: start + .seconds(2)) == nil)
    }

    @Test func oneKeysFailuresDoNotThrottleAnotherKeyOrAnAddress() {
        let throttle = AuthThrottle(failuresBeforeBlock: 1, unknownKeyFailuresBeforeBlock: 2)
        throttle.recordFailure(for: .key("k_000000000001"), now: start)
        #expect(throttle.waitTime(for: .key("k_000000000001"), now: start) != nil)
        #expect(throttle.waitTime(for: .key("k_000000000002"), now: start) == nil)
        #expect(throttle.waitTime(for: .unknownKeysFrom("10.0.0.1"), now: start) == nil)
        throttle.recordFailure(for: .unknownKeysFrom("10.0.0.1"), now: start)
        #expect(throttle.waitTime(for: .unknownKeysFrom("10.0.0.1"), now: start) == nil, "its ceiling is higher")
    }
}
