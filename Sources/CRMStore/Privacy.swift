import CRMCore
import Foundation

/// Data-subject requests (DESIGN.md §1): export everything held about a
/// contact, and erase it while keeping de-identified aggregates.
public struct Privacy<Access: StorageAccess> {
    let db: any SQLDatabase
    /// The writer whose commit holds an erasure, told to scrub the WAL after it.
    let writer: (any CommitRequests)?

    /// The contact's record, consent history, activities, tickets, deals and
    /// timeline events as one JSON document.
    public func export(contact id: Int64) throws -> String {
        guard let contact = try RecordTable.contacts.fetch(db, id: id) else {
            throw StoreError.notFound("no such contact")
        }
        let consent = try db.rows(
            """
            SELECT channel, state, max_per_month, source, key_id, at FROM consent_changes
            WHERE contact_id = ? ORDER BY seq
            """, [id]
        ).map { row -> [String: Any] in
            var entry: [String: Any] = ["channel": row[0] as String, "state": row[1] as String, "at": row[5] as String]
            if let cap: Int64 = row[2] { entry["max_per_month"] = cap }
            if let source: String = row[3] { entry["source"] = source }
            if let key: String = row[4] { entry["key_id"] = key }
            return entry
        }
        let related = { (table: RecordTable) in
            try table.find(db, Self.linked(to: id)).records.map(Self.object)
        }
        let events = try db.rows(
            """
            SELECT e.seq, e.type, e.record_type, e.record_id, e.fields, e.key_id, e.at FROM event_links l
            JOIN events e ON e.seq = l.seq WHERE l.record_type = 'contact' AND l.record_id = ? ORDER BY e.seq
            """, [id]
        ).map(Engagement<ReadAccess>.entry).map { entry -> [String: Any] in
            [
                "seq": entry.seq, "type": entry.type, "record": "\(entry.recordType):\(entry.recordID)",
                "at": entry.at,
                "fields": Dictionary(uniqueKeysWithValues: entry.fields.map { ($0.name, $0.value ?? "") }),
            ]
        }
        let document: [String: Any] = [
            "contact": Self.object(contact), "consent_history": consent, "activities": try related(.activities),
            "tickets": try related(.tickets), "deals": try related(.deals), "events": events,
            "exported_at": WallClock.now(),
        ]
        let data = try JSONSerialization.data(
            withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private static func linked(to contact: Int64) -> FindQuery {
        var query = FindQuery()
        query.conditions = [FindQuery.Condition(field: "contact", op: .equal, value: String(contact))]
        query.limit = Int(Int32.max) - 1
        return query
    }

    private static func object(_ record: StoredRecord) -> [String: String] {
        Dictionary(record.allFields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
    }
}

extension Privacy where Access == WriteAccess {
    /// Erases the contact's personal data: the record and its search index
    /// entries, consent history, subjects and bodies of its activities and
    /// tickets, and the payloads of every event about it. Deals, tickets and
    /// activities stay (unlinked) so revenue and cost-to-serve still add up.
    /// One `contact.forgotten` event records that it happened. Deleted
    /// content is zeroed (`secure_delete`), the search index's segments are
    /// rewritten, and once the commit is durable the WAL is checkpointed and
    /// truncated, so no file under the data directory keeps the values.
    public func forget(contact id: Int64, actor: String?) throws {
        guard try RecordTable.contacts.exists(db, id: id) else { throw StoreError.notFound("no such contact") }
        try db.erasingSecurely {
            try db.execute(
                """
                UPDATE events SET fields = '{"redacted":"contact.forget"}'
                WHERE seq IN (SELECT seq FROM event_links WHERE record_type = 'contact' AND record_id = ?)
                """, [id])
            try db.execute("UPDATE activities SET subject = NULL, body = NULL, custom = NULL WHERE contact = ?", [id])
            try db.execute("UPDATE tickets SET subject = NULL, body = NULL, custom = NULL WHERE contact = ?", [id])
            try db.execute("DELETE FROM contacts WHERE id = ?", [id])
        }
        writer?.scrubAfterCommit()
        try EventLog.append(
            db, type: "contact.forgotten", recordType: "contact", recordID: id, changes: FieldChanges(), actor: actor,
            at: WallClock.now())
    }
}
