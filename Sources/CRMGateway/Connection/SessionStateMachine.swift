import CRMProtocol
import NIOCore

/// The order and flow of one connection's commands, without I/O: the
/// ``SessionHandler`` reports what happened and carries out what this answers.
///
/// Commands run one at a time, in the order they arrived; one waiting on
/// storage holds those behind it, so a connection always reads its own
/// writes. Reading stops while too many commands are queued, while the socket
/// cannot take more output, or while a rate limit holds the connection, and
/// resumes once all of that clears. A connection that is closing finishes its
/// command in flight; what it does with the commands queued behind depends on
/// why it closes.
struct SessionStateMachine {
    /// What the connection sent: a command, or input that broke the protocol.
    enum Input {
        case command(RESPCommand)
        case protocolError(RESPProtocolError)
    }

    /// Whether to ask the socket for more input now.
    enum ReadAction: Equatable {
        case read
        case hold
    }

    /// Whether the connection closes now (after its buffered replies) or once its command in flight answers.
    enum CloseAction: Equatable {
        case closeNow
        case closeWhenAnswered
    }

    /// What runs inside MULTI when `command` arrives.
    enum TransactionStep {
        case exec(TransactionQueue)
        case discard
        case enqueue
    }

    private enum InFlight {
        case none
        case command
        /// `EVENTS.READ BLOCK`: a client that closed its input is not waited for.
        case blockingRead
    }

    let maxQueuedCommands: Int
    let maxBatchedCommands: Int

    private var queue = CircularBuffer<Input>()
    private var inFlight = InFlight.none
    private var closing = false
    /// Set after a protocol error or at shutdown: nothing more is decoded.
    private var inputRejected = false
    private var readHeld = false
    private var readingPaused = false
    private var running = false
    private var stopped = false
    /// Commands queued since MULTI, if a transaction is open.
    private(set) var transaction: TransactionQueue?

    init(maxQueuedCommands: Int = 1024, maxBatchedCommands: Int = 256) {
        self.maxQueuedCommands = maxQueuedCommands
        self.maxBatchedCommands = maxBatchedCommands
    }

    /// Whether input is still decoded: not after a protocol error, at shutdown, nor once closing.
    var acceptsInput: Bool { !closing && !inputRejected }
    var isClosing: Bool { closing }
    var isWaiting: Bool { inFlight != .none }
    /// Whether a closing connection has nothing left to answer.
    var closesNow: Bool { closing && inFlight == .none }

    mutating func received(_ input: Input) {
        if case .protocolError = input { inputRejected = true }
        queue.append(input)
    }

    /// The socket asks whether to read: not while the queue is full, the
    /// output backed up or a rate limit holds the connection.
    mutating func readRequested(socketWritable: Bool) -> ReadAction {
        guard queue.count < maxQueuedCommands, socketWritable, !readingPaused else {
            readHeld = true
            return .hold
        }
        return .read
    }

    /// Starts a run through the queue; false if one is running already (a
    /// flush inside it can report writability at once, which must not start a nested run).
    mutating func startRun() -> Bool {
        guard !running else { return false }
        running = true
        return true
    }

    mutating func endRun() { running = false }

    /// The next input to run, unless a command is in flight, the output is
    /// backed up, or nothing is queued.
    mutating func next(outputBackedUp: Bool) -> Input? {
        guard !outputBackedUp, inFlight == .none else { return nil }
        return queue.popFirst()
    }

    /// The next queued command, if it may join the batch of `count` commands
    /// being built (`joins` says whether it is a tenant operation).
    mutating func nextInBatch(count: Int, joins: (RESPCommand) -> Bool) -> RESPCommand? {
        guard count < maxBatchedCommands, case .command(let command)? = queue.first, joins(command) else { return nil }
        queue.removeFirst()
        return command
    }

    /// A command now waits on storage; nothing behind it runs until ``answered()``.
    mutating func waiting(blockingRead: Bool) {
        inFlight = blockingRead ? .blockingRead : .command
    }

    mutating func answered() { inFlight = .none }

    /// Reads again once the queue is half drained, the socket writable and no
    /// rate limit holds the connection, if a read was held back.
    mutating func resumeReading(socketWritable: Bool) -> ReadAction {
        guard readHeld, queue.count < maxQueuedCommands / 2, socketWritable, !readingPaused else { return .hold }
        readHeld = false
        return .read
    }

    /// A rate limit holds the connection's input; false if it is held already.
    mutating func pauseReading() -> Bool {
        guard !readingPaused else { return false }
        readingPaused = true
        return true
    }

    mutating func pauseEnded(socketWritable: Bool) -> ReadAction {
        readingPaused = false
        return resumeReading(socketWritable: socketWritable)
    }

    /// The client shut down its sending side: what is queued still runs and
    /// is answered, then the connection closes. A blocking read is not waited
    /// for: a client that closed its socket altogether looks the same.
    mutating func inputClosed() -> CloseAction {
        closing = true
        return inFlight == .command ? .closeWhenAnswered : .closeNow
    }

    /// Answer nothing more than the command in flight, then close (a protocol
    /// error, QUIT, a subscriber over its output limit).
    mutating func close() -> CloseAction {
        closing = true
        queue.removeAll()
        return inFlight == .none ? .closeNow : .closeWhenAnswered
    }

    /// Shutdown: the command in flight finishes, nothing queued or arriving runs.
    mutating func stopTakingCommands() {
        inputRejected = true
        stopped = true
        queue.removeAll()
    }

    /// Whether the connection stopped taking commands for shutdown.
    var isStopped: Bool { stopped }

    /// The connection is gone: nothing queued will run.
    mutating func closed() {
        closing = true
        queue.removeAll()
    }

    /// MULTI: the commands that follow are queued until EXEC or DISCARD.
    mutating func beginTransaction() { transaction = TransactionQueue() }

    /// Inside MULTI, what `command` does: EXEC hands over the queue, DISCARD
    /// drops it, anything else is queued with ``enqueue(_:refusal:)``.
    mutating func transactionStep(for command: RESPCommand) -> TransactionStep? {
        guard let queue = transaction, !TransactionQueue.immediate.contains(command.name) else { return nil }
        switch command.name {
        case "EXEC":
            transaction = nil
            return .exec(queue)
        case "DISCARD":
            transaction = nil
            return .discard
        default:
            return .enqueue
        }
    }

    /// Queues `command` in the open transaction, unless `refusal` (the
    /// command's gate error, or why it may not run inside MULTI) says no;
    /// returns what the client is answered now.
    mutating func enqueue(_ command: RESPCommand, refusal: RESPValue?) -> RESPValue {
        transaction!.enqueue(command, refusal: refusal)
    }

    /// RESET: the transaction is dropped.
    mutating func endTransaction() { transaction = nil }
}
