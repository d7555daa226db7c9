import CRMProtocol
import NIOCore
import Testing

@testable import CRMGateway

/// The command queue's order and flow, with no channel and no storage.
@Suite struct SessionStateMachineTests {
    private func command(_ name: String, _ arguments: String...) -> SessionStateMachine.Input {
        .command(RESPCommand(arguments: ([name] + arguments).map { ByteBuffer(string: $0) }))
    }

    private func name(_ input: SessionStateMachine.Input?) -> String? {
        guard case .command(let command)? = input else { return nil }
        return command.name
    }

    @Test func commandsRunInOrderAndOneWaitingHoldsThoseBehindIt() {
        var state = SessionStateMachine()
        state.received(command("PING"))
        state.received(command("CONTACT.ADD"))
        state.received(command("ECHO", "x"))
        #expect(name(state.next(outputBackedUp: false)) == "PING")
        #expect(name(state.next(outputBackedUp: false)) == "CONTACT.ADD")
        state.waiting(blockingRead: false)
        #expect(state.next(outputBackedUp: false) == nil, "nothing runs past a command in flight")
        state.answered()
        #expect(state.next(outputBackedUp: true) == nil, "nothing runs while the output is backed up")
        #expect(name(state.next(outputBackedUp: false)) == "ECHO")
        #expect(state.next(outputBackedUp: false) == nil)
    }

    @Test func aBatchTakesOnlyConsecutiveJoiningCommandsUpToItsLimit() {
        var state = SessionStateMachine(maxQueuedCommands: 1024, maxBatchedCommands: 3)
        for _ in 0..<4 { state.received(command("CONTACT.GET", "1")) }
        state.received(command("PING"))
        let joins: (RESPCommand) -> Bool = { $0.name == "CONTACT.GET" }
        #expect(name(state.next(outputBackedUp: false)) == "CONTACT.GET")
        #expect(state.nextInBatch(count: 1, joins: joins)?.name == "CONTACT.GET")
        #expect(state.nextInBatch(count: 2, joins: joins)?.name == "CONTACT.GET")
        #expect(state.nextInBatch(count: 3, joins: joins) == nil, "the batch is full")
        #expect(name(state.next(outputBackedUp: false)) == "CONTACT.GET")
        #expect(state.nextInBatch(count: 1, joins: joins) == nil, "PING does not join")
    }

    @Test func readingStopsWhenTheQueueFillsAndResumesAtHalf() {
        var state = SessionStateMachine(maxQueuedCommands: 4, maxBatchedCommands: 256)
        for _ in 0..<4 { state.received(command("PING")) }
        #expect(state.readRequested(socketWritable: true) == .hold)
        _ = state.next(outputBackedUp: false)
        _ = state.next(outputBackedUp: false)
        #expect(state.resumeReading(socketWritable: true) == .hold, "two queued: not below half yet")
        _ = state.next(outputBackedUp: false)
        #expect(state.resumeReading(socketWritable: false) == .hold, "not while the socket is full")
        #expect(state.resumeReading(socketWritable: true) == .read)
        #expect(state.resumeReading(socketWritable: true) == .hold, "one held read is resumed once")
    }

    @Test func aRateLimitPauseHoldsReadsUntilItEnds() {
        var state = SessionStateMachine()
        let paused = state.pauseReading()
        let pausedAgain = state.pauseReading()
        #expect(paused)
        #expect(!pausedAgain, "a second pause while paused is not scheduled")
        #expect(state.readRequested(socketWritable: true) == .hold)
        #expect(state.pauseEnded(socketWritable: true) == .read)
        #expect(state.readRequested(socketWritable: true) == .read)
    }

    @Test func aProtocolErrorStopsInputButWhatCameBeforeItStillRuns() {
        var state = SessionStateMachine()
        state.received(command("PING"))
        state.received(.protocolError(RESPProtocolError("invalid bulk length")))
        #expect(!state.acceptsInput)
        #expect(name(state.next(outputBackedUp: false)) == "PING")
        guard case .protocolError? = state.next(outputBackedUp: false) else {
            Issue.record("the error is answered in its place")
            return
        }
    }

    /// A machine with CONTACT.ADD in flight and PING queued behind it.
    private func waitingOnAWrite() -> SessionStateMachine {
        var state = SessionStateMachine()
        state.received(command("CONTACT.ADD"))
        state.received(command("PING"))
        _ = state.next(outputBackedUp: false)
        state.waiting(blockingRead: false)
        return state
    }

    @Test func closedInputDrainsTheQueueButABlockingReadIsNotWaitedFor() {
        var state = waitingOnAWrite()
        #expect(state.inputClosed() == .closeWhenAnswered)
        state.answered()
        #expect(name(state.next(outputBackedUp: false)) == "PING", "what was sent before the close is answered")
        #expect(state.closesNow)

        var blocked = SessionStateMachine()
        blocked.received(command("EVENTS.READ", "BLOCK", "0"))
        _ = blocked.next(outputBackedUp: false)
        blocked.waiting(blockingRead: true)
        #expect(blocked.inputClosed() == .closeNow)
    }

    @Test func closingAndShutdownDropWhatIsQueued() {
        var state = waitingOnAWrite()
        #expect(state.close() == .closeWhenAnswered)
        state.answered()
        #expect(state.next(outputBackedUp: false) == nil)
        #expect(state.closesNow)

        var shuttingDown = SessionStateMachine()
        shuttingDown.received(command("PING"))
        shuttingDown.stopTakingCommands()
        #expect(!shuttingDown.acceptsInput)
        #expect(shuttingDown.next(outputBackedUp: false) == nil)
    }

    @Test func insideMultiCommandsQueueUntilExecOrDiscard() {
        var state = SessionStateMachine()
        guard case .command(let multi) = command("MULTI"), case .command(let add) = command("CONTACT.ADD"),
            case .command(let exec) = command("EXEC"), case .command(let quit) = command("QUIT")
        else { return }
        #expect(state.transactionStep(for: add) == nil, "outside MULTI commands run")
        state.beginTransaction()
        guard case .enqueue? = state.transactionStep(for: add) else {
            Issue.record("queued")
            return
        }
        #expect(state.enqueue(add, refusal: nil) == .simpleString("QUEUED"))
        #expect(state.enqueue(multi, refusal: nil).errorMessage == "ERR MULTI calls can not be nested")
        #expect(state.transactionStep(for: quit) == nil, "QUIT acts at once")
        guard case .exec(let queue)? = state.transactionStep(for: exec) else {
            Issue.record("EXEC hands over the queue")
            return
        }
        #expect(queue.commands.map(\.name) == ["CONTACT.ADD"])
        #expect(!queue.failed)
        #expect(state.transaction == nil)
    }
}
