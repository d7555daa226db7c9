import CRMStore
import CRMTestSupport
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import CRMGateway

/// Idle, AUTH deadline and shutdown decisions on a fake clock: no sleeping.
@Suite struct ConnectionStateMachineTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func machine(idle: TimeAmount? = .seconds(300), auth: TimeAmount? = .seconds(10))
        -> ConnectionStateMachine
    {
        ConnectionStateMachine(now: start, idleTimeout: idle, authTimeout: auth)
    }

    @Test func aSilentConnectionIsClosedAtTheAuthDeadline() {
        var state = machine()
        #expect(state.firstCheck == .checkAt(start + .seconds(10)))
        #expect(state.deadlineReached(now: start + .seconds(10)) == .close(.authTimeout))
    }

    @Test func anAuthenticatedConnectionIsClosedOnlyAfterTheIdleTimeout() {
        var state = machine()
        state.authenticated(true)
        #expect(state.deadlineReached(now: start + .seconds(10)) == .checkAt(start + .seconds(300)))
        _ = state.commandsAnswered(now: start + .seconds(100))
        #expect(
            state.deadlineReached(now: start + .seconds(300)) == .checkAt(start + .seconds(400)),
            "activity moves the idle deadline")
        #expect(state.deadlineReached(now: start + .seconds(400)) == .close(.idle))
    }

    @Test func aCommandInFlightOrASubscriptionIsNeverIdle() {
        var state = machine(auth: nil)
        state.commandWaiting()
        #expect(
            state.deadlineReached(now: start + .seconds(400)) == .checkAt(start + .seconds(400) + .milliseconds(100)))
        _ = state.commandsAnswered(now: start + .seconds(400))
        state.subscribed(true)
        #expect(
            state.deadlineReached(now: start + .seconds(800)) == .checkAt(start + .seconds(800) + .milliseconds(100)))
        state.subscribed(false)
        #expect(state.deadlineReached(now: start + .seconds(800)) == .close(.idle))
    }

    @Test func anUnauthenticatedCommandInFlightPostponesTheAuthDeadline() {
        var state = machine(idle: nil)
        state.commandWaiting()
        #expect(state.deadlineReached(now: start + .seconds(10)) == .checkAt(start + .seconds(10) + .milliseconds(100)))
        _ = state.commandsAnswered(now: start + .seconds(10))
        #expect(state.deadlineReached(now: start + .seconds(11)) == .close(.authTimeout))
    }

    @Test func withNoTimeoutsNothingIsScheduled() {
        #expect(machine(idle: nil, auth: nil).firstCheck == .none)
    }

    @Test func shutdownClosesAnIdleConnectionAtOnceAndABusyOneWhenAnswered() {
        var idle = machine()
        #expect(idle.quiesce() == .close(.shutdown))
        var busy = machine()
        busy.commandWaiting()
        #expect(busy.quiesce() == .none)
        #expect(busy.commandsAnswered(now: start + .seconds(1)) == .close(.shutdown))
    }

    /// The handler on an `EmbeddedChannel`, its deadlines measured on the embedded loop's clock.
    @Test func theHandlerClosesAtTheDeadlineOfTheFakeClock() throws {
        let directory = try TemporaryDirectory()
        let services = try GatewayServices.embedded(in: directory) { $0.authTimeout = .seconds(10) }
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(ConnectionStateHandler(services: services) { loop.now })
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "closed at the AUTH deadline")
        #expect(services.statistics.authTimeouts.load(ordering: .relaxed) == 1)
    }
}
