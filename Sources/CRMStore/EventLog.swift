import CRMCore
import GRDB

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

    /// Appends an event and returns its sequence number.
    @discardableResult
    static func append(
        _ db: Database, type: String, recordType: String, recordID: Int64, changes: FieldChanges, actor: String?,
        at time: String, links: [Link] = []
    ) throws -> Int64 {
        let fields = JSONText.object(changes.fieldNames.map { ($0, changes[$0] ?? nil) })
        try db.cachedStatement(
            sql: "INSERT INTO events (type, record_type, record_id, fields, key_id, at) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [type, recordType, recordID, fields, actor, time])
        let seq = db.lastInsertedRowID
        let link = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO event_links (record_type, record_id, seq) VALUES (?, ?, ?)")
        for target in [Link(type: recordType, id: recordID)] + links {
            try link.execute(arguments: [target.type, target.id, seq])
        }
        return seq
    }
}
