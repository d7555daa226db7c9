import CRMCore
import CRMProtocol
import NIOCore

/// A write the run must later find on the server, if the server acknowledged it.
enum PendingWrite: Sendable {
    /// A contact added with this email; its id is the reply.
    case contact(email: String)
    /// A feed update of the connection's SKU: a delta (`INV.ADJ`) or a level (`INV.SET`).
    case feed(seq: Int64, change: FeedChange)
}

/// One change of a SKU's stock, as its feed sent it.
public enum FeedChange: Sendable, Codable, Equatable {
    case adjust(Int64)
    case set(Int64)
}

/// Makes each connection's requests: realistic arguments that differ per
/// request (fresh emails, ids that exist, lifecycle values, its own feed with
/// increasing SEQ numbers), or a command's example from the table for
/// commands it has no generator for.
struct RequestGenerator {
    /// What the connection works on: its tenant's seeded contacts, its company, SKU, feed and deal.
    struct Scope {
        var runID: String
        var connection: Int
        var seededContacts: [Int64]
        /// The company (by ext) whose stock the connection's feed reports.
        var company = "load-co"
        var sku: String { "LOAD-\(runID)-\(connection)" }
        var feed: String { "load-\(runID)-\(connection)" }
    }

    let scope: Scope
    private let mix: CommandMix
    private let examples: [[String]]
    /// Contacts this connection added and saw acknowledged (the newest 10,000).
    private(set) var written: [Int64] = []
    private var writtenSlot = 0
    private var emails = 0
    var nextSeq: Int64 = 1
    var deal: Int64?
    private var dealStage = false
    private var random: UInt64

    init(scope: Scope, mix: CommandMix, table: CommandTable = .standard) {
        self.scope = scope
        self.mix = mix
        examples = mix.entries.map { entry in
            let example = table[entry.name]?.example ?? entry.name
            return (InlineCommandSplitter.split(Array(example.utf8)) ?? []).map { String(decoding: $0, as: UTF8.self) }
        }
        random = 0x9E37_79B9_7F4A_7C15 &* UInt64(scope.connection + 1)
    }

    /// xorshift64*: a cheap, well-spread random number per request.
    mutating func nextRandom() -> UInt64 {
        random ^= random >> 12
        random ^= random << 25
        random ^= random >> 27
        return random &* 0x2545_F491_4F6C_DD1D
    }

    /// Writes the next request into `buffer`; returns which mix entry it is and the write to remember if acknowledged.
    mutating func next(into buffer: inout ByteBuffer) -> (entry: Int, write: PendingWrite?) {
        let entry = mix.pick(nextRandom())
        let name = mix.entries[entry].name
        // The reads a load repeats most are written word by word, without building their words as Strings.
        switch name {
        case "CONTACT.GET":
            buffer.writeStaticString("*2\r\n$11\r\nCONTACT.GET\r\n")
            buffer.writeRESPBulk(decimal: existingContact())
            return (entry, nil)
        default:
            let (words, write) = make(name, entry: entry)
            buffer.writeRESPCommand(words)
            return (entry, write)
        }
    }

    private static let lifecycles = Lifecycle.allCases.map(\.rawValue)

    private mutating func lifecycle() -> String {
        Self.lifecycles[Int(nextRandom() % UInt64(Self.lifecycles.count))]
    }

    private mutating func make(_ name: String, entry: Int) -> ([String], PendingWrite?) {
        switch name {
        case "CONTACT.ADD":
            emails += 1
            let email = "c\(emails)-\(scope.connection)-\(scope.runID)@load.example"
            return (
                ["CONTACT.ADD", "email", email, "first_name", "Load\(emails)", "lifecycle", lifecycle()],
                .contact(email: email)
            )
        case "CONTACT.SET":
            return (["CONTACT.SET", String(existingContact()), "lifecycle", lifecycle()], nil)
        case "CONTACT.FIND":
            return (["CONTACT.FIND", "WHERE", "lifecycle", "=", lifecycle(), "LIMIT", "10"], nil)
        case "INV.ADJ":
            let delta = Int64(nextRandom() % 11) - 5
            return feedUpdate("INV.ADJ", value: delta == 0 ? 1 : delta, change: FeedChange.adjust)
        case "INV.SET":
            return feedUpdate("INV.SET", value: Int64(nextRandom() % 1000), change: FeedChange.set)
        case "INV.GET":
            return (["INV.GET", scope.company, scope.sku], nil)
        case "DEAL.MOVE" where deal != nil:
            dealStage.toggle()
            return (["DEAL.MOVE", String(deal!), dealStage ? "negotiation" : "proposal"], nil)
        case "DEAL.GET" where deal != nil:
            return (["DEAL.GET", String(deal!)], nil)
        case "COMPANY.GET":
            return (["COMPANY.GET", scope.company], nil)
        default:
            return (examples[entry], nil)
        }
    }

    private mutating func feedUpdate(_ command: String, value: Int64, change: (Int64) -> FeedChange) -> (
        [String], PendingWrite?
    ) {
        let seq = nextSeq
        nextSeq += 1
        return (
            [command, scope.company, scope.sku, String(value), "SEQ", String(seq)],
            .feed(seq: seq, change: change(value))
        )
    }

    /// A contact that exists: one this connection wrote, or one seeded before the run.
    private mutating func existingContact() -> Int64 {
        let pool = written.isEmpty ? scope.seededContacts : written
        guard !pool.isEmpty else { return 1 }
        return pool[Int(nextRandom() % UInt64(pool.count))]
    }

    /// Notes an acknowledged contact, so reads can pick it.
    mutating func wrote(contact id: Int64) {
        if written.count < 10_000 {
            written.append(id)
        } else {
            written[writtenSlot] = id
            writtenSlot = (writtenSlot + 1) % written.count
        }
    }
}
