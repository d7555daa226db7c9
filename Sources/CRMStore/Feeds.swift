import CRMCore
import GRDB

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
    let db: Database

    public func info(_ name: String) throws -> FeedInfo {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT last_seq, applied, duplicates, updated_at FROM feeds WHERE name = ?"),
                arguments: [name])
        else { throw StoreError.notFound("no such feed") }
        let gaps = try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT from_seq, to_seq FROM feed_gaps WHERE feed = ? ORDER BY from_seq LIMIT ?"),
            arguments: [name, StoreLimits.maxFeedGapsShown]
        ).map { ($0[0] as Int64)...($0[1] as Int64) }
        return FeedInfo(
            name: name, lastSeq: row[0], applied: row[1], duplicates: row[2], gaps: gaps, updatedAt: row[3])
    }
}

extension Feeds where Access == WriteAccess {
    /// Opens (creating if new) a feed; returns the last applied sequence number.
    public func open(_ name: String) throws -> Int64 {
        try db.cachedStatement(
            sql: "INSERT INTO feeds (name, updated_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
        ).execute(arguments: [name, WallClock.now()])
        return try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT last_seq FROM feeds WHERE name = ?"), arguments: [name]) ?? 0
    }

    /// Records `seq` as applied and returns true, or returns false for a
    /// duplicate (at or below the last applied number), which must not be applied.
    public func admit(feed name: String, seq: Int64) throws -> Bool {
        let now = WallClock.now()
        let last = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT last_seq FROM feeds WHERE name = ?"), arguments: [name])
        switch FeedAdmission(seq: seq, lastApplied: last) {
        case .duplicate:
            try db.cachedStatement(
                sql: "UPDATE feeds SET duplicates = duplicates + 1, updated_at = ? WHERE name = ?"
            ).execute(arguments: [now, name])
            return false
        case .apply(let skipped?):
            try db.cachedStatement(sql: "INSERT INTO feed_gaps (feed, from_seq, to_seq) VALUES (?, ?, ?)")
                .execute(arguments: [name, skipped.lowerBound, skipped.upperBound])
        case .apply(nil):
            break
        }
        if last == nil {
            // The feed's first update opens it, at this seq.
            try db.cachedStatement(sql: "INSERT INTO feeds (name, last_seq, applied, updated_at) VALUES (?, ?, 1, ?)")
                .execute(arguments: [name, seq, now])
        } else {
            try db.cachedStatement(
                sql: "UPDATE feeds SET last_seq = ?, applied = applied + 1, updated_at = ? WHERE name = ?"
            ).execute(arguments: [seq, now, name])
        }
        return true
    }
}
