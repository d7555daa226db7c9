import CRMCore
import CRMProtocol
import CRMStore
import NIOCore

/// EVENTS.READ and pub/sub: the tenant's durable event log, read in order or
/// pushed live.
enum EventCommands {
    static let handlers: [String: CommandHandler] = [
        "EVENTS.READ": read, "SUBSCRIBE": subscribe, "PSUBSCRIBE": psubscribe, "UNSUBSCRIBE": unsubscribe,
        "PUNSUBSCRIBE": punsubscribe,
    ]

    static let maxCount = 1000
    static let maxTypes = 16
    /// The longest `BLOCK` accepted: a day; `BLOCK 0` waits without limit.
    static let maxBlockMilliseconds: Int64 = 86_400_000

    /// `EVENTS.READ [FROM seq] [COUNT n] [TYPE t ...] [BLOCK ms]`
    static func read(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let options = try OptionArguments(
            invocation.texts(from: 1), tokens: ["FROM": 1, "COUNT": 1, "BLOCK": 1], variadic: ["TYPE"])
        let types = options.values("TYPE")
        guard types.count <= maxTypes else { throw InvalidField("TYPE", "at most \(maxTypes) types") }
        for type in types {
            guard (1...64).contains(type.utf8.count),
                type.utf8.allSatisfy({
                    $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "*")
                        || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                })
            else {
                throw InvalidField("TYPE", "an event type such as reorder.created, or a prefix such as reorder.*")
            }
        }
        let query = EventQuery(
            after: try options.integer("FROM", in: 0...Int64.max) ?? 0,
            count: try options.integer("COUNT", in: 1...maxCount, default: 100), types: types)
        guard let block = try options.integer("BLOCK", in: 0...maxBlockMilliseconds) else {
            return try invocation.read { transaction in
                reply(try transaction.events(after: query.after, limit: query.count, types: query.types))
            }
        }
        let database = try invocation.tenantDatabase()
        let future = BlockingEventRead.start(
            query, on: database, timeout: block == 0 ? nil : .milliseconds(block),
            until: invocation.session.client.channel.closeFuture, eventLoop: invocation.eventLoop)
        return .pending(future.map { CommandResult(reply: $0.map(reply) ?? .null) })
    }

    static func subscribe(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try change(invocation, .subscribe(try channels(invocation)))
    }

    static func psubscribe(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try change(invocation, .psubscribe(try patterns(invocation)))
    }

    static func unsubscribe(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try change(invocation, .unsubscribe(try channels(invocation)))
    }

    static func punsubscribe(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try change(invocation, .punsubscribe(try patterns(invocation)))
    }

    /// The session writes a subscription change's confirmation frames itself,
    /// since they carry its subscription count.
    private static func change(_ invocation: CommandInvocation, _ change: SubscriptionChange) throws -> CommandOutcome {
        _ = try invocation.tenantDatabase()
        return .done(CommandResult(reply: .null, effects: [.subscriptions(change)]))
    }

    private static func channels(_ invocation: CommandInvocation) throws -> [EventChannel] {
        try invocation.texts(from: 1).map { name in
            guard let channel = EventChannel(rawValue: name.lowercased()) else {
                throw InvalidField(
                    name, "no such channel; channels: \(EventChannel.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            return channel
        }
    }

    private static func patterns(_ invocation: CommandInvocation) throws -> [String] {
        try invocation.texts(from: 1).map { pattern in
            guard (1...64).contains(pattern.utf8.count) else { throw InvalidField("pattern", "1 to 64 bytes") }
            return pattern
        }
    }

    static func reply(_ events: [CommittedEvent]) -> RESPValue {
        .array(events.map(reply))
    }

    static func reply(_ event: CommittedEvent) -> RESPValue {
        .map([
            (.bulk("seq"), .integer(Int(event.seq))), (.bulk("type"), .bulk(event.type)),
            (.bulk("record_type"), .bulk(event.recordType)), (.bulk("record_id"), .integer(Int(event.recordID))),
            (.bulk("fields"), .bulk(event.fields)), (.bulk("key_id"), event.keyID.map { .bulk($0) } ?? .null),
            (.bulk("at"), .bulk(event.at)),
        ])
    }
}

/// Which events an `EVENTS.READ` asks for.
struct EventQuery: Sendable {
    /// Events after this sequence number.
    var after: Int64
    var count: Int
    var types: [String]
}

/// A blocking `EVENTS.READ`: reads, and while nothing matches waits for the
/// tenant's next commit. No thread waits: a hub callback and a timer on the
/// session's event loop drive it, and closing the connection ends it.
final class BlockingEventRead {
    private var query: EventQuery
    private let database: TenantDatabase
    private let promise: EventLoopPromise<[CommittedEvent]?>
    private var token: EventHub.Token?
    private var timer: Scheduled<Void>?
    private var finished = false

    private init(query: EventQuery, database: TenantDatabase, promise: EventLoopPromise<[CommittedEvent]?>) {
        self.query = query
        self.database = database
        self.promise = promise
    }

    /// Succeeds with the first matching events, or nil when `timeout` passes or `closed` completes first.
    static func start(
        _ query: EventQuery, on database: TenantDatabase, timeout: TimeAmount?, until closed: EventLoopFuture<Void>,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<[CommittedEvent]?> {
        let promise = eventLoop.makePromise(of: [CommittedEvent]?.self)
        let read = NIOLoopBound(
            BlockingEventRead(query: query, database: database, promise: promise), eventLoop: eventLoop)
        eventLoop.execute {
            if let timeout {
                read.value.timer = eventLoop.scheduleTask(in: timeout) { read.value.finish(with: .success(nil)) }
            }
            closed.hop(to: eventLoop).whenComplete { _ in read.value.finish(with: .success(nil)) }
            read.value.attempt(read)
        }
        return promise.futureResult
    }

    private func attempt(_ bound: NIOLoopBound<BlockingEventRead>) {
        let query = query
        database.read { transaction in
            let events = try transaction.events(after: query.after, limit: query.count, types: query.types)
            return (events, events.isEmpty ? try transaction.newestEventSeq() : query.after)
        } completion: { result in
            bound.eventLoop.execute { bound.value.found(result, bound) }
        }
    }

    private func found(
        _ result: Result<(events: [CommittedEvent], newest: Int64), any Error>, _ bound: NIOLoopBound<BlockingEventRead>
    ) {
        guard !finished else { return }
        switch result {
        case .failure(let error):
            finish(with: .failure(error))
        case .success(let read) where !read.events.isEmpty:
            finish(with: .success(read.events))
        case .success(let read):
            // Nothing up to `newest` matched: wait from there, so later attempts skip it.
            query.after = max(query.after, read.newest)
            let wake: @Sendable () -> Void = { bound.eventLoop.execute { bound.value.attempt(bound) } }
            token = database.events.wake(after: query.after, wake)
            if token == nil { attempt(bound) }
        }
    }

    private func finish(with result: Result<[CommittedEvent]?, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        if let token { database.events.cancel(token) }
        promise.completeWith(result)
    }
}
