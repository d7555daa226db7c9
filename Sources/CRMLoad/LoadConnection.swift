import CRMProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// What every connection of a run shares: when to stop, how many requests
/// are left, and whether the open-loop schedule applies.
final class RunControl: Sendable {
    /// Set when the duration is over, the request budget is spent, or on Ctrl-C: no new requests.
    let stopped = Atomic<Bool>(false)
    /// Requests still to send; nil budget (negative) means unlimited.
    private let budget: Atomic<Int>
    let limited: Bool

    init(requests: Int?) {
        limited = requests != nil
        budget = Atomic(requests ?? 0)
    }

    /// Takes one request from the budget; false once the run must stop sending.
    func mayStart() -> Bool {
        guard !stopped.load(ordering: .relaxed) else { return false }
        guard limited else { return true }
        if budget.subtract(1, ordering: .relaxed).newValue >= 0 { return true }
        stopped.store(true, ordering: .relaxed)
        return false
    }
}

/// One event loop's share of a run: its connections' figures and
/// acknowledged writes. Touched only on `eventLoop` (other threads go through
/// `eventLoop.submit`), hence `@unchecked Sendable`.
final class LoadWorker: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Every reply is recorded here, one access at a time on the event loop:
    /// dynamic exclusivity checks on it cost more than the recording (see ``LoadConnection``).
    @exclusivity(unchecked) var figures: LoadFigures
    var journal = Journal()

    init(eventLoop: any EventLoop, entries: Int) {
        self.eventLoop = eventLoop
        figures = LoadFigures(entries: entries)
    }

    /// Forgets what was measured (the end of the warm-up); acknowledged writes are kept.
    func resetFigures() {
        figures = LoadFigures(entries: figures.commands.count)
    }
}

/// How a connection reaches the server and who it is there.
struct ConnectionTarget: Sendable {
    var host: String
    var port: Int
    var tls: NIOSSLContext?
    var serverName: String?
    var tenant: TenantCredentials
    /// `--switch`: before each request the connection authenticates as the next of these, in
    /// an order shuffled per connection, so a pass touches each tenant once.
    var switching: [TenantCredentials]?
}

/// One connection of the run: authenticates as its tenant, opens its feed,
/// then keeps up to `pipeline` requests in flight, closed loop (as fast as
/// replies come) or open loop (each request due on a fixed schedule, its
/// latency measured from when it was due, as wrk2 does). Reconnects if the
/// server drops it. Lives on its worker's event loop.
final class LoadConnection: @unchecked Sendable {
    private struct InFlight {
        /// The mix entry, -1 for a set-up command, or ``switchEntry`` for the AUTH of `--switch`.
        var entry: Int
        /// The tenant it runs as: its connection's, or the one `--switch` chose.
        var tenant: String
        /// When it was due (open loop) or sent (closed loop).
        var since: NIODeadline
        var write: PendingWrite?
    }

    private static let switchEntry = -2

    private enum Phase {
        case connecting, authenticating, openingFeed, creatingDeal, running, finished
    }

    let worker: LoadWorker
    private let target: ConnectionTarget
    private let control: RunControl
    private let pipeline: Int
    private let mix: CommandMix
    // The fields every request and reply touches are read and changed only on the worker's event
    // loop, one access at a time (no access spans a call that touches the same field), so they skip
    // the dynamic exclusivity checks: those were a tenth of the client's CPU per request at -P 16.
    @exclusivity(unchecked) private var generator: RequestGenerator
    /// Open loop: nanoseconds between this connection's requests.
    private let interval: Int64?
    private var nextDue = NIODeadline.now()
    /// Open loop: requests that fell due while the pipeline was full, by due time.
    private var overdue = CircularBuffer<NIODeadline>()
    @exclusivity(unchecked) private var inFlight = CircularBuffer<InFlight>()
    private var phase = Phase.connecting
    private var channel: (any Channel)?
    @exclusivity(unchecked) private var unread = ByteBuffer()
    /// The replies of the latest read, kept to reuse its storage.
    @exclusivity(unchecked) private var scanned: [ScannedReply] = []
    @exclusivity(unchecked) private var output = ByteBuffer()
    private var dueTimer: Scheduled<Void>?
    private let finished: EventLoopPromise<Void>
    private var feedOpened = false
    /// `--switch`: the connection's shuffled order of the tenants, and where it is in it.
    private var switchOrder: [Int] = []
    private var switchPosition = 0

    /// Completes when the connection has stopped and every reply it waited for arrived (or was given up).
    var done: EventLoopFuture<Void> { finished.futureResult }

    init(
        worker: LoadWorker, target: ConnectionTarget, control: RunControl, pipeline: Int, mix: CommandMix,
        generator: RequestGenerator, interval: Int64?, startOffset: Int64
    ) {
        self.worker = worker
        self.target = target
        self.control = control
        self.pipeline = pipeline
        self.mix = mix
        self.generator = generator
        self.interval = interval
        nextDue = .now() + .nanoseconds(startOffset)
        finished = worker.eventLoop.makePromise()
    }

    /// Connects (again after a drop); on the worker's event loop.
    func connect() {
        phase = .connecting
        let bootstrap = ClientBootstrap(group: worker.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // Pipelined replies arrive in bursts: reading them in larger pieces crosses the pipeline fewer times.
            .channelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 16384, maximum: 65536)
            )
            .connectTimeout(.seconds(5))
            .channelInitializer { [target] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = target.tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: target.serverName))
                    }
                    try pipeline.addHandler(Handler(connection: self))
                }
            }
        bootstrap.connect(host: target.host, port: target.port).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                self.channel = channel
                self.output = channel.allocator.buffer(capacity: 4096)
                self.phase = .authenticating
                self.send(["AUTH", self.target.tenant.keyID, self.target.tenant.secret], entry: -1)
                self.flush()
            case .failure:
                self.retryLater()
            }
        }
    }

    private func retryLater() {
        guard !control.stopped.load(ordering: .relaxed) else { return finish() }
        worker.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.connect() }
    }

    private func finish() {
        guard phase != .finished else { return }
        phase = .finished
        dueTimer?.cancel()
        channel?.close(promise: nil)
        finished.succeed()
    }

    /// Stops sending; the connection finishes once its in-flight replies are in.
    func stop() {
        dueTimer?.cancel()
        if inFlight.isEmpty || channel == nil { finish() }
    }

    // MARK: replies

    fileprivate func received(_ bytes: inout ByteBuffer) {
        scanned.removeAll(keepingCapacity: true)
        do {
            if unread.readableBytes == 0 {
                // The common case: a read of whole replies is scanned where it lies.
                try ScannedReply.scanAll(&bytes, into: &scanned)
                if bytes.readableBytes > 0 { unread.writeBuffer(&bytes) }
            } else {
                unread.writeBuffer(&bytes)
                try ScannedReply.scanAll(&unread, into: &scanned)
                if unread.readableBytes == 0 { unread.clear() }
            }
        } catch {
            channel?.close(promise: nil)
            return
        }
        // One clock reading per read: the replies in it arrived together.
        let now = NIODeadline.now()
        for reply in scanned {
            guard let request = inFlight.popFirst() else { break }
            handle(reply, to: request, at: now)
        }
    }

    fileprivate func readComplete() {
        flush()
    }

    private func handle(_ reply: ScannedReply, to request: InFlight, at now: NIODeadline) {
        if request.entry == Self.switchEntry {
            if case .error = reply { worker.figures.switchFailures += 1 }
            return
        }
        guard request.entry >= 0 else { return setUpStep(reply) }
        var errorCode: String?
        if case .error(let code) = reply { errorCode = code.text }
        let microseconds = UInt64(max(0, (now - request.since).nanoseconds / 1000))
        worker.figures.commands[request.entry].record(microseconds: microseconds, error: errorCode)
        if let write = request.write, errorCode == nil {
            acknowledged(write, reply: reply, tenant: request.tenant)
        }
        keepGoing(at: now)
    }

    private func acknowledged(_ write: PendingWrite, reply: ScannedReply, tenant: String) {
        switch write {
        case .contact(let email):
            guard case .integer(let id) = reply else { return }
            // Ids of another tenant (under --switch) would not exist in the connection's own.
            if tenant == target.tenant.name { generator.wrote(contact: id) }
            worker.journal.contacts.append(.init(tenant: tenant, id: id, email: email))
        case .feed(let seq, _):
            worker.journal.acknowledged(feed: generator.scope.feed, seq: seq)
        }
    }

    private func setUpStep(_ reply: ScannedReply) {
        if case .error(let code) = reply {
            // A wrong key or a missing tenant: nothing this connection sends can work.
            worker.figures.commands[0].record(microseconds: 0, error: "SETUP-\(code.text)")
            control.stopped.store(true, ordering: .relaxed)
            return finish()
        }
        switch phase {
        case .authenticating:
            if mix.usesFeed {
                phase = .openingFeed
                send(["FEED.OPEN", generator.scope.feed], entry: -1)
                return
            }
            fallthrough
        case .openingFeed:
            if case .integer(let last) = reply, phase == .openingFeed {
                generator.nextSeq = max(generator.nextSeq, last + 1)
                if !feedOpened {
                    worker.journal.opened(
                        feed: generator.scope.feed, tenant: target.tenant.name, company: generator.scope.company,
                        sku: generator.scope.sku)
                    feedOpened = true
                }
            }
            if mix.usesDeal && generator.deal == nil {
                phase = .creatingDeal
                send(["DEAL.ADD", "title", "load \(generator.scope.feed)", "stage", "proposal"], entry: -1)
                return
            }
            fallthrough
        case .creatingDeal:
            if case .integer(let id) = reply, phase == .creatingDeal { generator.deal = id }
            phase = .running
            start()
        default:
            break
        }
    }

    // MARK: sending

    private func start() {
        if let interval {
            if nextDue < .now() { nextDue = .now() }
            scheduleDue(interval: interval)
        } else {
            keepGoing()
        }
    }

    /// Closed loop: refill the pipeline (the requests sent at `now`). Open loop: send what fell due while it was full.
    private func keepGoing(at now: NIODeadline = .now()) {
        guard phase == .running else { return }
        if control.stopped.load(ordering: .relaxed) {
            if inFlight.isEmpty { finish() }
            return
        }
        if interval != nil {
            while inFlight.count < pipeline, let due = overdue.popFirst() { sendNext(since: due) }
        } else {
            while inFlight.count < pipeline, control.mayStart() { sendNext(since: now) }
            if inFlight.isEmpty { finish() }
        }
    }

    /// Open loop: at each due time, send (or queue, if the pipeline is full) every request now due.
    private func scheduleDue(interval: Int64) {
        dueTimer = worker.eventLoop.assumeIsolated().scheduleTask(deadline: nextDue) {
            let now = NIODeadline.now()
            let lag = UInt64(max(0, (now - self.nextDue).nanoseconds / 1000))
            self.worker.figures.worstScheduleLagMicroseconds = max(
                self.worker.figures.worstScheduleLagMicroseconds, lag)
            if lag > 1000 { self.worker.figures.lateSends += 1 }
            while self.nextDue <= now {
                guard self.phase == .running, self.control.mayStart() else {
                    if self.inFlight.isEmpty { self.finish() }
                    return
                }
                if self.inFlight.count < self.pipeline {
                    self.sendNext(since: self.nextDue)
                } else {
                    self.overdue.append(self.nextDue)
                }
                self.nextDue = self.nextDue + .nanoseconds(interval)
            }
            self.flush()
            self.scheduleDue(interval: interval)
        }
    }

    private func sendNext(since: NIODeadline) {
        var tenant = target.tenant.name
        if let switching = target.switching {
            if switchOrder.isEmpty {
                switchOrder = Array(switching.indices)
                for index in switchOrder.indices.reversed() {
                    switchOrder.swapAt(index, Int(generator.nextRandom() % UInt64(index + 1)))
                }
            }
            let next = switching[switchOrder[switchPosition]]
            switchPosition = (switchPosition + 1) % switchOrder.count
            output.writeRESPCommand(["AUTH", next.keyID, next.secret])
            inFlight.append(InFlight(entry: Self.switchEntry, tenant: next.name, since: since, write: nil))
            tenant = next.name
        }
        let (entry, write) = generator.next(into: &output)
        inFlight.append(InFlight(entry: entry, tenant: tenant, since: since, write: write))
        if case .feed(let seq, let change) = write {
            worker.journal.sent(feed: generator.scope.feed, seq: seq, change: change)
        }
    }

    private func send(_ words: [String], entry: Int) {
        output.writeRESPCommand(words)
        inFlight.append(InFlight(entry: entry, tenant: target.tenant.name, since: .now(), write: nil))
        flush()
    }

    private func flush() {
        guard let channel, output.readableBytes > 0 else { return }
        channel.writeAndFlush(output, promise: nil)
        output = channel.allocator.buffer(capacity: 4096)
    }

    // MARK: the connection's life

    fileprivate func closed() {
        channel = nil
        unread.clear()
        let lost = inFlight.filter { $0.entry >= 0 }.count
        worker.figures.dropped += lost
        inFlight.removeAll()
        dueTimer?.cancel()
        guard phase != .finished else { return }
        if control.stopped.load(ordering: .relaxed) { return finish() }
        worker.figures.reconnects += 1
        retryLater()
    }

    /// The pipeline's last handler: hands bytes and closes to the connection.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let connection: LoadConnection

        init(connection: LoadConnection) {
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            connection.received(&bytes)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            connection.readComplete()
        }

        func channelInactive(context: ChannelHandlerContext) {
            connection.closed()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
