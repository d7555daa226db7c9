import CRMCore
import GRDB

/// The tenant's append-only change log (DESIGN.md §5): every change appends
/// one event in the same transaction as the change itself.
enum EventLog {
    /// Appends an event and returns its sequence number.
    @discardableResult
    static func append(
        _ db: Database, type: String, recordType: String, recordID: Int64, changes: FieldChanges, actor: String?,
        at time: String
    ) throws -> Int64 {
        let fields = JSONText.object(changes.fieldNames.map { ($0, changes[$0] ?? nil) })
        try db.execute(
            sql: "INSERT INTO events (type, record_type, record_id, fields, key_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [type, recordType, recordID, fields, actor, time]
        )
        return db.lastInsertedRowID
    }
}
