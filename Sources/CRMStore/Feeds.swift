import CRMCore

/// Where an ERP feed stands.
public struct FeedInfo: Sendable, Equatable {
    public var name: String
    public var lastSeq: Int64
    public var applied: Int64
    public var duplicates: Int64
    /// Sequence numbers skipped by a jump forward, as closed ranges.
    public var gaps: [ClosedRange<Int64>]
    public var updatedAt: String
}

/// ERP feeds with exactly-once effect (DESIGN.md §7): each feed command
/// carries a sequence number, and the feed's position is stored in the same
/// transaction as the change it acknowledges, so a crash or a replay can
/// neither lose nor double an update.
public struct Feeds<Access: StorageAccess> {
    let db: any SQLDatabase

    public func info(_ name: String) throws -> FeedInfo {
        guard
            let row = try db.row("SELECT last_seq, applied, duplicates, updated_at FROM feeds WHERE name = ?", [name])
        else { throw StoreError.notFound("no such feed") }
        let gaps = try db.rows(
            "SELECT from_seq, to_seq FROM feed_gaps WHERE feed = ? ORDER BY from_seq LIMIT ?",
            [name, StoreLimits.maxFeedGapsShown]
        ).map { ($0[0] as Int64)...($0[1] as Int64) }
        return FeedInfo(
            name: name, lastSeq: row[0], applied: row[1], duplicates: row[2], gaps: gaps, updatedAt: row[3])
    }
}

extension Feeds where Access == WriteAccess {
    /// Opens (creating if new) a feed; returns the last applied sequence number.
    public func open(_ name: String) throws -> Int64 {
        try db.execute(
            "INSERT INTO feeds (name, updated_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [name, WallClock.now()])
        return try db.value(Int64.self, "SELECT last_seq FROM feeds WHERE name = ?", [name]) ?? 0
    }

    /// Records `seq` as applied and returns true, or returns false for a
    /// duplicate (at or below the last applied number), which must not be applied.
    public func admit(feed name: String, seq: Int64) throws -> Bool {
        let now = WallClock.now()
        let last = try db.value(Int64.self, "SELECT last_seq FROM feeds WHERE name = ?", [name])
        switch FeedAdmission(seq: seq, lastApplied: last) {
        case .duplicate:
            try db.execute("UPDATE feeds SET duplicates = duplicates + 1, updated_at = ? WHERE name = ?", [now, name])
            return false
        case .apply(let skipped?):
            try db.execute(
                "INSERT INTO feed_gaps (feed, from_seq, to_seq) VALUES (?, ?, ?)",
                [name, skipped.lowerBound, skipped.upperBound])
        case .apply(nil):
            break
        }
        if last == nil {
            // The feed's first update opens it, at this seq.
            try db.execute(
                "INSERT INTO feeds (name, last_seq, applied, updated_at) VALUES (?, ?, 1, ?)", [name, seq, now])
        } else {
            try db.execute(
                "UPDATE feeds SET last_seq = ?, applied = applied + 1, updated_at = ? WHERE name = ?", [seq, now, name])
        }
        return true
    }
}
