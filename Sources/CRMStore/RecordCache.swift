import CRMCore
import Synchronization

/// Recently read records of one tenant, so a `GET` of a record nobody changed
/// since it was last read is answered on the event loop without SQLite.
///
/// It never answers with a record older than the newest acknowledged write:
/// the writer drops changed records right after each commit and before any
/// of that commit's replies are sent, and a read may only store what it read
/// if no commit touching records happened since it was dispatched (the
/// generation), so a slow reader cannot put back a record a commit replaced.
/// Full, it forgets the oldest first: records take slots of a ring in turn,
/// and a slot a commit emptied goes to the next record stored.
public final class RecordCache: Sendable {
    struct Key: Hashable, Sendable {
        let type: RecordKind
        let id: Int64
    }

    private struct ExtKey: Hashable {
        let type: RecordKind
        let ext: String
    }

    /// What an entry holds besides its reply's bytes.
    private struct EntryHeader {
        let record: StoredRecord
        /// The format (e.g. the protocol version) of the reply stored after the header; nil: none yet.
        let replyFormat: Int?
        let replyCount: Int
    }

    /// A cached record, and the reply last encoded from it, in one allocation:
    /// the reply's bytes follow the header, so a repeated `GET` reads one
    /// object (at random over 100k records, each object read is a cache miss)
    /// and copies its bytes once. Never changed once made (so it may be shared
    /// between threads): encoding a reply replaces it with one holding that reply.
    private struct Entry: @unchecked Sendable {
        private let storage: ManagedBuffer<EntryHeader, UInt8>

        init(_ record: StoredRecord, reply: (format: Int, bytes: [UInt8])? = nil) {
            let bytes = reply?.bytes ?? []
            storage = .create(minimumCapacity: bytes.count) { _ in
                EntryHeader(record: record, replyFormat: reply?.format, replyCount: bytes.count)
            }
            storage.withUnsafeMutablePointerToElements { elements in
                bytes.withUnsafeBufferPointer { source in
                    guard let base = source.baseAddress else { return }
                    elements.initialize(from: base, count: source.count)
                }
            }
        }

        var record: StoredRecord { storage.header.record }

        /// The kept reply's bytes, if it is in `format`.
        func withReply<T>(in format: Int, _ body: (UnsafeRawBufferPointer?) -> T) -> T {
            storage.withUnsafeMutablePointers { header, bytes in
                body(
                    header.pointee.replyFormat == format
                        ? UnsafeRawBufferPointer(start: bytes, count: header.pointee.replyCount) : nil)
            }
        }
    }

    /// A cached record's entry and the slot of the ring it holds.
    private struct Cached {
        var entry: Entry
        let slot: Int
    }

    private struct State {
        var records: [Key: Cached] = [:]
        /// The cached records that have an `ext`, by that ext exactly as stored: the same
        /// entries as in `records`, so a read by ext is one lookup.
        var exts: [ExtKey: Entry] = [:]
        /// The record in each slot, stored in slot order, so the oldest go first when
        /// full; nil: freed when a commit changed its record, and taken by the next store.
        var slots: [Key?] = []
        var freeSlots: [Int] = []
        /// The slot a store takes, its record forgotten, once every slot is used.
        var nextSlot = 0

        /// Forgets `key`'s record; its slot goes to the next store.
        mutating func remove(_ key: Key) {
            guard let slot = forget(key) else { return }
            slots[slot] = nil
            freeSlots.append(slot)
        }

        /// Stores `entry` for `key`, which is not cached, in a free slot, a new
        /// one while fewer than `capacity`, or the oldest's.
        mutating func insert(_ key: Key, _ entry: Entry, capacity: Int) {
            let slot: Int
            if let free = freeSlots.popLast() {
                slot = free
            } else if slots.count < capacity {
                slot = slots.count
                slots.append(nil)
            } else {
                slot = nextSlot
                nextSlot = (nextSlot + 1) % capacity
                if let oldest = slots[slot] { _ = forget(oldest) }
            }
            slots[slot] = key
            records[key] = Cached(entry: entry, slot: slot)
            if let ext = entry.record["ext"] { exts[ExtKey(type: key.type, ext: ext)] = entry }
        }

        /// Puts `entry` in place of the one cached for its record, in its slot.
        mutating func replace(_ key: Key, with entry: Entry) {
            records[key]?.entry = entry
            if let ext = entry.record["ext"] { exts[ExtKey(type: key.type, ext: ext)] = entry }
        }

        func entry(_ type: RecordKind, _ reference: RecordReference) -> Entry? {
            switch reference {
            case .id(let id): records[Key(type: type, id: id)]?.entry
            case .ext(let ext): exts[ExtKey(type: type, ext: ext)]
            }
        }

        /// Removes `key`'s record from the maps and returns the slot it held.
        private mutating func forget(_ key: Key) -> Int? {
            guard let cached = records.removeValue(forKey: key) else { return nil }
            if let ext = cached.entry.record["ext"] { exts[ExtKey(type: key.type, ext: ext)] = nil }
            return cached.slot
        }
    }

    /// Permission to store what a read snapshot finds, valid while no record changed since it was taken.
    struct Fill: Sendable {
        let cache: RecordCache
        let generation: UInt64
        /// The ``CacheTrust`` epoch when the snapshot was taken, if the store is shared.
        let trustEpoch: UInt64?

        func store(_ record: StoredRecord, type: RecordKind) {
            cache.store(record, key: Key(type: type, id: record.id), ifGeneration: generation, trustEpoch: trustEpoch)
        }
    }

    private let state = Mutex(State())
    /// Bumped under the state lock by every invalidation; read without it when a snapshot starts.
    private let generation = Atomic<UInt64>(0)
    /// The most records kept; 0 turns the cache off.
    public let capacity: Int
    /// For a store other gateways write too: whether this one hears of their changes now.
    private let trust: CacheTrust?

    /// A cache of `capacity` records; with `trust`, serving and filling only while it is granted.
    init(capacity: Int, trust: CacheTrust? = nil) {
        self.capacity = capacity
        self.trust = trust
    }

    /// Whether the cache may answer at all now.
    private var isServing: Bool {
        capacity > 0 && trust?.isGranted != false
    }

    /// The stored record `reference` names, if it is cached.
    func record(_ type: RecordKind, _ reference: RecordReference) -> StoredRecord? {
        guard isServing else { return nil }
        return state.withLock { state in state.entry(type, reference)?.record }
    }

    /// Hands `write` the reply in `format` for the cached record `reference`
    /// names, if it is cached (false if not): encoded by `encode` the first
    /// time, then kept with the entry until the record changes or a reply in
    /// another format replaces it, and written from there under the lock, so
    /// the common case copies the bytes once. Only for records whose reply
    /// depends on nothing but their stored fields.
    func reply(
        _ type: RecordKind, _ reference: RecordReference, format: Int, encode: (StoredRecord) -> [UInt8],
        write: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard isServing else { return false }
        enum Found {
            case missing
            case written
            case toEncode(StoredRecord)
        }
        let found = state.withLock { state -> Found in
            guard let entry = state.entry(type, reference) else { return .missing }
            return entry.withReply(in: format) { reply in
                guard let reply else { return .toEncode(entry.record) }
                write(reply)
                return .written
            }
        }
        let record: StoredRecord
        switch found {
        case .missing: return false
        case .written: return true
        case .toEncode(let stored): record = stored
        }
        let bytes = encode(record)
        state.withLock { state in
            // Versions only grow and ids are never reused: the same version is the same record.
            let key = Key(type: type, id: record.id)
            if let cached = state.records[key], cached.entry.record.version == record.version {
                state.replace(key, with: Entry(record, reply: (format, bytes)))
            }
        }
        bytes.withUnsafeBytes(write)
        return true
    }

    /// Records cached now.
    public var count: Int { state.withLock { $0.records.count } }

    /// Taken before a read snapshot starts: what the snapshot reads may be stored unless a commit intervenes.
    func fill() -> Fill? {
        guard isServing else { return nil }
        return Fill(cache: self, generation: generation.load(ordering: .acquiring), trustEpoch: trust?.epoch)
    }

    private func store(_ record: StoredRecord, key: Key, ifGeneration generation: UInt64, trustEpoch: UInt64?) {
        state.withLock { state in
            guard self.generation.load(ordering: .relaxed) == generation, trust?.epoch == trustEpoch,
                state.records[key] == nil
            else { return }
            state.insert(key, Entry(record), capacity: capacity)
        }
    }

    /// Forgets every record (an idle tenant giving its memory back); reads dispatched before now store nothing.
    func removeAll() {
        state.withLock { state in
            generation.wrappingAdd(1, ordering: .releasing)
            state = State()
        }
    }

    /// Forgets what a commit changed (nothing, some records, or possibly any).
    func forget(_ changes: RecordChanges) {
        switch changes {
        case .all: removeAll()
        case .some(let keys) where !keys.isEmpty: invalidate(keys)
        case .some: break
        }
    }

    /// Forgets `keys` (changed by a commit) and refuses stores from reads dispatched before now.
    func invalidate(_ keys: Set<Key>) {
        state.withLock { state in
            generation.wrappingAdd(1, ordering: .releasing)
            for key in keys { state.remove(key) }
        }
    }
}

/// Whether a gateway's record caches may serve, when other gateways write
/// the same PostgreSQL: only while it hears their changes in time
/// (``PostgresGatewayPeers``). Withdrawn when the listener loses its
/// connection, granted again once it listens anew and every cache was
/// emptied; and served from only within the lease its last returned beat
/// gave. A read's fill made under an earlier grant stores nothing.
final class CacheTrust: Sendable {
    /// Odd: withdrawn. Starts withdrawn, until the first grant.
    private let counter = Atomic<UInt64>(1)
    /// When the lease ends, in nanoseconds after ``start``.
    private let leaseEnd = Atomic<Int64>(0)
    /// When a cache was last asked (to the tenth of a second), in nanoseconds after ``start``: the gateway beats while they are.
    private let wanted = Atomic<Int64>(0)
    private static let start = ContinuousClock.now

    var isGranted: Bool {
        let now = Self.now
        // One store per tenth of a second at most, not one per cached read.
        if now - wanted.load(ordering: .relaxed) > 100_000_000 { wanted.store(now, ordering: .relaxed) }
        return epoch & 1 == 0 && now < leaseEnd.load(ordering: .relaxed)
    }

    /// Whether a cache was asked within `interval`.
    func wasWanted(within interval: Duration) -> Bool {
        Self.now - wanted.load(ordering: .relaxed) < Self.nanoseconds(interval)
    }

    /// Changes at each withdrawal and grant.
    var epoch: UInt64 { counter.load(ordering: .acquiring) }

    /// Caches stop serving. Called by the listener's task only.
    func withdraw() {
        if epoch & 1 == 0 { counter.add(1, ordering: .releasing) }
        leaseEnd.store(0, ordering: .relaxed)
    }

    /// Caches may serve again, within a lease: call once every cache was emptied. Called by the listener's task only.
    func grant() {
        if epoch & 1 == 1 { counter.add(1, ordering: .releasing) }
    }

    /// Caches may serve until `end` (if granted).
    func renew(until end: ContinuousClock.Instant) {
        leaseEnd.store(Self.nanoseconds(end - Self.start), ordering: .relaxed)
    }

    /// Nanoseconds since ``start``.
    private static var now: Int64 { nanoseconds(ContinuousClock.now - start) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// How a command names one record: its id, or the `ext` its source system gave it.
public enum RecordReference: Sendable, Hashable {
    case id(Int64)
    case ext(String)

    /// A positive integer is an id; anything else is an ext.
    public init(_ text: String) {
        if let id = Int64(text), id > 0 {
            self = .id(id)
        } else {
            self = .ext(text)
        }
    }
}
