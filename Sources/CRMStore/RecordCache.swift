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
/// Full, it forgets its oldest entries first.
public final class RecordCache: Sendable {
    struct Key: Hashable, Sendable {
        let type: TimelineSubject
        let id: Int64
    }

    private struct ExtKey: Hashable {
        let type: TimelineSubject
        let ext: String
    }

    /// A cached record, and the reply last encoded from it with its format
    /// (e.g. the protocol version), so a repeated `GET` costs one copy. A
    /// class, so finding it under the lock does not copy the record; the reply
    /// comes first, in the object's first cache line with its header.
    private final class Entry {
        var reply: (format: Int, bytes: [UInt8])?
        let record: StoredRecord

        init(record: StoredRecord) {
            self.record = record
        }
    }

    private struct State {
        var records: [Key: Entry] = [:]
        /// The cached records that have an `ext`, by that ext exactly as stored: the same
        /// entries as in `records`, so a read by ext is one lookup.
        var exts: [ExtKey: Entry] = [:]
        /// Keys in the order they were stored, to forget the oldest when full.
        var order: [Key] = []
        var nextSlot = 0

        mutating func remove(_ key: Key) {
            guard let entry = records.removeValue(forKey: key) else { return }
            if let ext = entry.record["ext"] { exts[ExtKey(type: key.type, ext: ext)] = nil }
        }

        func entry(_ type: TimelineSubject, _ reference: RecordReference) -> Entry? {
            switch reference {
            case .id(let id): records[Key(type: type, id: id)]
            case .ext(let ext): exts[ExtKey(type: type, ext: ext)]
            }
        }
    }

    /// Permission to store what a read snapshot finds, valid while no record changed since it was taken.
    struct Fill: Sendable {
        let cache: RecordCache
        let generation: UInt64

        func store(_ record: StoredRecord, type: TimelineSubject) {
            cache.store(record, key: Key(type: type, id: record.id), ifGeneration: generation)
        }
    }

    private let state = Mutex(State())
    /// Bumped under the state lock by every invalidation; read without it when a snapshot starts.
    private let generation = Atomic<UInt64>(0)
    /// The most records kept; 0 turns the cache off.
    public let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The stored record `reference` names, if it is cached.
    func record(_ type: TimelineSubject, _ reference: RecordReference) -> StoredRecord? {
        guard capacity > 0 else { return nil }
        return state.withLock { state in state.entry(type, reference)?.record }
    }

    /// Hands `write` the reply in `format` for the cached record `reference`
    /// names, if it is cached (false if not): encoded by `encode` the first
    /// time, then kept with the entry until the record changes or a reply in
    /// another format replaces it, and written from there under the lock, so
    /// the common case copies the bytes once. Only for records whose reply
    /// depends on nothing but their stored fields.
    func reply(
        _ type: TimelineSubject, _ reference: RecordReference, format: Int, encode: (StoredRecord) -> [UInt8],
        write: ([UInt8]) -> Void
    ) -> Bool {
        guard capacity > 0 else { return false }
        enum Found {
            case missing
            case written
            case toEncode(StoredRecord)
        }
        let found = state.withLock { state -> Found in
            guard let entry = state.entry(type, reference) else { return .missing }
            if let reply = entry.reply, reply.format == format {
                write(reply.bytes)
                return .written
            }
            return .toEncode(entry.record)
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
            if let entry = state.records[Key(type: type, id: record.id)], entry.record.version == record.version {
                entry.reply = (format, bytes)
            }
        }
        write(bytes)
        return true
    }

    /// Records cached now.
    public var count: Int { state.withLock { $0.records.count } }

    /// Taken before a read snapshot starts: what the snapshot reads may be stored unless a commit intervenes.
    func fill() -> Fill? {
        guard capacity > 0 else { return nil }
        return Fill(cache: self, generation: generation.load(ordering: .acquiring))
    }

    private func store(_ record: StoredRecord, key: Key, ifGeneration generation: UInt64) {
        state.withLock { state in
            guard self.generation.load(ordering: .relaxed) == generation, state.records[key] == nil else { return }
            if state.order.count < capacity {
                state.order.append(key)
            } else {
                state.remove(state.order[state.nextSlot])
                state.order[state.nextSlot] = key
                state.nextSlot = (state.nextSlot + 1) % capacity
            }
            let entry = Entry(record: record)
            state.records[key] = entry
            if let ext = record["ext"] { state.exts[ExtKey(type: key.type, ext: ext)] = entry }
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
