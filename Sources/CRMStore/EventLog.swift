import CRMCore

/// The tenant's append-only change log (DESIGN.md §5): every change appends
/// one event in the same transaction as the change itself.
///
/// An event is linked to the record it changed and to the records that one
/// belongs to (its contact, company, deal or ticket), which is how a
/// timeline finds everything that touched a record.
enum EventLog {
    /// A record an event concerns.
    struct Link: Hashable {
        let type: String
        let id: Int64
    }

    /// The `INSERT` of an event, built once per dialect.
    private static let insertText = StatementTexts()

    /// Appends an event and returns its sequence number.
    @discardableResult
    static func append(
        _ db: any SQLDatabase, type: String, recordType: String, recordID: Int64, changes: FieldChanges, actor: String?,
        at time: String, links: [Link] = []
    ) throws -> Int64 {
        let fields = JSONText.object(changes.fieldNames.map { ($0, changes[$0] ?? nil) })
        let insert = insertText.text(db.dialect, shape: 0) {
            db.dialect.insertWithKey(
                into: "events", key: "seq", columns: ["type", "record_type", "record_id", "fields", "key_id", "at"],
                ignoringConflicts: false)
        }
        guard let seq = try db.insertedKey(insert, [type, recordType, recordID, fields, actor, time]) else {
            throw StoreError.conflict("the event log returned no sequence number")
        }
        for target in [Link(type: recordType, id: recordID)] + links {
            try db.execute(
                "INSERT INTO event_links (record_type, record_id, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [target.type, target.id, seq])
        }
        return seq
    }

    /// The newest sequence number in the log, 0 when it is empty.
    static func newestSeq(_ db: any SQLDatabase) throws -> Int64 {
        try db.value(Int64.self, "SELECT max(seq) FROM events") ?? 0
    }

    /// Events after `seq` in order, at most `limit`, only of `types` when given
    /// (a type ending in `*` matches by prefix, e.g. `reorder.*`).
    static func read(_ db: any SQLDatabase, after seq: Int64, limit: Int?, types: [String]) throws -> [CommittedEvent] {
        let typeFilter =
            types.isEmpty
            ? "" : " AND (" + types.map { _ in db.dialect.eventTypeMatches }.joined(separator: " OR ") + ")"
        let patterns = types.map(db.dialect.eventTypePattern)
        var values: [any SQLBindable] = [seq]
        values += patterns
        if let limit { values.append(limit) }
        return try db.rows(
            "SELECT seq, type, record_type, record_id, fields, key_id, at FROM events WHERE seq > ?"
                + typeFilter + " ORDER BY seq" + (limit == nil ? "" : " LIMIT ?"), values
        ).map { row in
            CommittedEvent(
                seq: row[0], type: row[1], recordType: row[2], recordID: row[3], fields: row[4], keyID: row[5],
                at: row[6])
        }
    }
}
