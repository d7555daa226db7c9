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

    /// A connection authenticated for longer than the AUTH timeout, then RESET,
    /// has the timeout from the RESET to authenticate again, not from its connect.
    @Test func aResetConnectionHasAFreshWindowToAuthenticate() {
        var state = machine(idle: nil)
        state.authenticated(true)
        #expect(state.reset(now: start + .seconds(60)) == .checkAt(start + .seconds(70)))
        #expect(state.deadlineReached(now: start + .seconds(65)) == .checkAt(start + .seconds(70)))
        #expect(state.deadlineReached(now: start + .seconds(70)) == .close(.authTimeout))
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

    /// The whole session pipeline on the embedded loop's clock: a command is activity, half of one is not.
    @Test func halfACommandIsNotActivityButACommandIs() throws {
        let directory = try TemporaryDirectory()
        let services = try GatewayServices.embedded(in: directory) {
            $0.idleTimeout = .seconds(3)
            $0.authTimeout = nil
        }
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(SessionHandler(services: services))
        try channel.pipeline.syncOperations.addHandler(ConnectionStateHandler(services: services) { loop.now })
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(2))
        try channel.writeInbound(ByteBuffer(string: "PING\r\n"))
        loop.advanceTime(by: .milliseconds(2_900))
        #expect(channel.isActive, "the PING at 2 s moved the deadline to 5 s")
        try channel.writeInbound(ByteBuffer(string: "*5\r\n$11\r\nCONTACT.ADD\r\n$5\r\nemail\r\n$13\r\nmal"))
        loop.advanceTime(by: .milliseconds(100))
        #expect(!channel.isActive, "closed at 5 s: the half command did not count")
        #expect(services.statistics.idleDisconnections.load(ordering: .relaxed) == 1)
    }
}
