import CRMCore
import Foundation
import GRDB
import GRDBSQLite

/// SQL for one record type laid out by its ``RecordSchema``: a column per
/// schema field, `x_*` custom fields in a JSON `custom` column, an optional
/// FTS5 index, and events appended beside every change.
struct RecordTable: Sendable {
    let schema: RecordSchema
    let table: String
    let searchTable: String?
    /// The columns every read selects, built once: reads are the hot path.
    private let selectList: String
    private let selectByID: String
    private let selectByExt: String

    init(schema: RecordSchema, table: String, searchTable: String?) {
        self.schema = schema
        self.table = table
        self.searchTable = searchTable
        selectList = (RecordSchema.systemFields + schema.fields.map(\.name) + ["custom"]).joined(separator: ", ")
        selectByID = "SELECT \(selectList) FROM \(table) WHERE id = ?"
        selectByExt = "SELECT \(selectList) FROM \(table) WHERE ext = ?"
    }

    static let contacts = RecordTable(schema: .contact, table: "contacts", searchTable: "contacts_fts")
    static let companies = RecordTable(schema: .company, table: "companies", searchTable: "companies_fts")
    static let deals = RecordTable(schema: .deal, table: "deals", searchTable: "deals_fts")
    static let tickets = RecordTable(schema: .ticket, table: "tickets", searchTable: "tickets_fts")
    static let activities = RecordTable(schema: .activity, table: "activities", searchTable: nil)

    func fetch(_ db: Database, id: Int64) throws -> StoredRecord? {
        try records(db, sql: selectByID, arguments: [id]).first
    }

    func fetch(_ db: Database, ext: String) throws -> StoredRecord? {
        try records(db, sql: selectByExt, arguments: [ext]).first
    }

    func exists(_ db: Database, id: Int64) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM \(table) WHERE id = ?"), arguments: [id]) ?? false
    }

    func insert(_ db: Database, _ changes: FieldChanges, actor: String?, now: String) throws -> Int64 {
        try checkReferences(db, changes)
        var columns = ["created_at", "updated_at"]
        var values: [(any DatabaseValueConvertible)?] = [now, now]
        for field in schema.fields {
            if let value = changes[field.name] {
                columns.append(field.name)
                values.append(Self.databaseValue(value, field))
            }
        }
        let custom = customJSON(merging: changes, into: [:])
        if let custom {
            columns.append("custom")
            values.append(custom)
        }
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        try explainingUniqueViolations(db, changes, excluding: nil) {
            try db.cachedStatement(
                sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
            )
            .execute(arguments: StatementArguments(values))
        }
        let id = db.lastInsertedRowID
        try EventLog.append(
            db, type: "\(schema.type).created", recordType: schema.type, recordID: id, changes: changes, actor: actor,
            at: now, links: links(current: nil, changes))
        return id
    }

    /// Applies `changes` to `current` and returns the new version. `event`
    /// names the change in the event log (default `<type>.updated`) and
    /// `eventFields` describes it there when it is more than the changed fields.
    func update(
        _ db: Database, _ current: StoredRecord, _ changes: FieldChanges, actor: String?, now: String,
        event: String? = nil, eventFields: FieldChanges? = nil
    ) throws -> Int64 {
        try checkReferences(db, changes)
        var assignments = ["version = version + 1", "updated_at = ?"]
        var values: [(any DatabaseValueConvertible)?] = [now]
        for field in schema.fields {
            if let value = changes[field.name] {
                assignments.append("\(field.name) = ?")
                values.append(Self.databaseValue(value, field))
            }
        }
        if changes.fieldNames.contains(where: RecordSchema.isCustomFieldName) {
            let customFields = current.fields.filter { RecordSchema.isCustomFieldName($0.name) }
            let existing = Dictionary(customFields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
            assignments.append("custom = ?")
            values.append(customJSON(merging: changes, into: existing))
        }
        values.append(current.id)
        try explainingUniqueViolations(db, changes, excluding: current.id) {
            try db.cachedStatement(sql: "UPDATE \(table) SET \(assignments.joined(separator: ", ")) WHERE id = ?")
                .execute(arguments: StatementArguments(values))
        }
        try EventLog.append(
            db, type: event ?? "\(schema.type).updated", recordType: schema.type, recordID: current.id,
            changes: eventFields ?? changes, actor: actor, at: now, links: links(current: current, changes))
        return current.version + 1
    }

    func delete(_ db: Database, id: Int64, actor: String?, now: String) throws {
        guard let current = try fetch(db, id: id) else { throw StoreError.notFound("no such \(schema.type)") }
        try db.cachedStatement(sql: "DELETE FROM \(table) WHERE id = ?").execute(arguments: [id])
        try EventLog.append(
            db, type: "\(schema.type).deleted", recordType: schema.type, recordID: id, changes: FieldChanges(),
            actor: actor, at: now, links: links(current: current, FieldChanges()))
    }

    func find(_ db: Database, _ query: FindQuery) throws -> RecordPage {
        // A search behind a write in the same batch must find what that write indexed.
        if query.search != nil { try SearchIndex.flush(db) }
        let (sql, arguments) = try findStatement(query)
        var records = try self.records(db, sql: sql, arguments: arguments)
        let next = records.trimToPage(query.limit).map { last in
            FindCursor(
                sortField: query.sortField, descending: query.descending, sortValue: last[query.sortField] ?? "",
                id: last.id)
        }
        return RecordPage(records: records, next: next)
    }

    /// The SQL and arguments of a `FIND` page (one row more than the limit, to know if more follow).
    ///
    /// A search reads the FTS5 matches first, in rowid order (`CROSS JOIN`
    /// keeps the planner from driving the join from another index and probing
    /// the full-text index once per row), so a page sorted by id stops after
    /// its rows instead of collecting every match.
    func findStatement(_ query: FindQuery) throws -> (sql: String, arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        var source = table
        var idColumn = "id"
        if query.search != nil {
            guard let searchTable else { throw InvalidField("SEARCH", "\(schema.type) records are not searchable") }
            let words = query.searchWords
            guard !words.isEmpty else { throw InvalidField("SEARCH", "has no words to search for") }
            // Every word as a quoted FTS5 string with a prefix star: no word is read as FTS5 syntax.
            // (GRDB's FTS5Pattern builds the same, but opens two in-memory databases to do it: it
            // was two thirds of a search's time.)
            let pattern = words.map { "\"\($0)\"*" }.joined(separator: " ")
            source =
                "(SELECT rowid AS hit FROM \(searchTable) WHERE \(searchTable) MATCH ?) CROSS JOIN \(table) ON id = hit"
            arguments.append(pattern)
            idColumn = "hit"
        }
        for condition in query.conditions {
            let column = expression(for: condition.field)
            if condition.value.isEmpty, condition.op == .equal || condition.op == .notEqual {
                clauses.append("\(column) IS \(condition.op == .equal ? "" : "NOT ")NULL")
                continue
            }
            let value = try bindable(condition.value, field: condition.field)
            switch condition.op {
            case .equal: clauses.append("\(column) = ?")
            case .notEqual: clauses.append("\(column) IS NOT ?")
            case .less: clauses.append("\(column) < ?")
            case .lessOrEqual: clauses.append("\(column) <= ?")
            case .greater: clauses.append("\(column) > ?")
            case .greaterOrEqual: clauses.append("\(column) >= ?")
            case .prefix:
                clauses.append("(\(column) >= ? AND \(column) < ? || char(1114111))")
                arguments.append(condition.value)
            }
            arguments.append(condition.op == .prefix ? condition.value : value)
        }
        let sort = sortExpression(for: query.sortField)
        let direction = query.descending ? "DESC" : "ASC"
        if let after = query.after {
            let comparison = query.descending ? "<" : ">"
            if query.sortField == "id" {
                clauses.append("\(idColumn) \(comparison) ?")
                arguments.append(after.id)
            } else {
                let value = try sortBindable(after.sortValue, field: query.sortField)
                clauses.append("(\(sort) \(comparison) ? OR (\(sort) = ? AND id \(comparison) ?))")
                arguments += [value, value, after.id]
            }
        }
        var sql = "SELECT \(selectList) FROM \(source)"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql +=
            query.sortField == "id"
            ? " ORDER BY \(idColumn) \(direction)" : " ORDER BY \(sort) \(direction), id \(direction)"
        sql += " LIMIT \(query.limit + 1)"
        return (sql, StatementArguments(arguments))
    }

    // MARK: - Rows and values

    /// The records a `SELECT` of ``selectList`` finds.
    private func records(_ db: Database, sql: String, arguments: StatementArguments) throws -> [StoredRecord] {
        var records: [StoredRecord] = []
        try db.cachedStatement(sql: sql).forEachRow(arguments: arguments) { row in records.append(record(row)) }
        return records
    }

    private func record(_ row: SQLiteStatement) -> StoredRecord {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(schema.fields.count)
        for (offset, field) in schema.fields.enumerated() {
            if let value = ColumnValue.text(row, Int32(4 + offset)) {
                fields.append((field.name, value))
            }
        }
        if let custom = ColumnValue.text(row, Int32(4 + schema.fields.count)),
            let object = try? JSONSerialization.jsonObject(with: Data(custom.utf8)) as? [String: String]
        {
            fields += object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return StoredRecord(
            id: ColumnValue.integer(row, 0), version: ColumnValue.integer(row, 1),
            createdAt: ColumnValue.text(row, 2) ?? "", updatedAt: ColumnValue.text(row, 3) ?? "", fields: fields)
    }

    /// A validated value as it is stored: numbers as integers, the rest as text.
    static func databaseValue(_ value: String?, _ field: RecordSchema.Field) -> (any DatabaseValueConvertible)? {
        guard let value else { return nil }
        return field.isNumeric ? Int64(value) : value
    }

    private func customJSON(merging changes: FieldChanges, into existing: [String: String]) -> String? {
        var merged = existing
        for name in changes.fieldNames where RecordSchema.isCustomFieldName(name) {
            merged[name] = changes[name] ?? nil
        }
        guard !merged.isEmpty else { return nil }
        return JSONText.object(merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// The records an event on this record is linked to: the ones its reference fields name after the change.
    private func links(current: StoredRecord?, _ changes: FieldChanges) -> [EventLog.Link] {
        schema.fields.compactMap { field in
            guard case .reference(let type) = field.kind else { return nil }
            let value = changes[field.name] ?? current?[field.name]
            return value.flatMap { Int64($0) }.map { EventLog.Link(type: type, id: $0) }
        }
    }

    /// Every record a change links to must exist in this tenant.
    private func checkReferences(_ db: Database, _ changes: FieldChanges) throws {
        for field in schema.fields {
            guard case .reference(let type) = field.kind, case .some(.some(let value)) = changes[field.name],
                let id = Int64(value), let target = RecordKind(rawValue: type)?.table
            else { continue }
            guard try target.exists(db, id: id) else {
                throw InvalidField(field.name, "no such \(type) \(id)")
            }
        }
    }

    /// Runs `statement`; if a unique index rejects it, names the field and the record that holds the value.
    /// The indexes do the checking, so a write that violates nothing costs no extra lookups.
    private func explainingUniqueViolations(
        _ db: Database, _ changes: FieldChanges, excluding id: Int64?, _ statement: () throws -> Void
    ) throws {
        do {
            try statement()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            for field in schema.fields where field.unique {
                guard case .some(.some(let value)) = changes[field.name] else { continue }
                let other = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT id FROM \(table) WHERE \(field.name) = ? AND id IS NOT ?"),
                    arguments: [value, id])
                if let other {
                    throw InvalidField(field.name, "already used by \(schema.type) \(other)")
                }
            }
            throw error
        }
    }

    /// The SQL expression of a queryable field; names are validated by the schema before they get here.
    private func expression(for field: String) -> String {
        RecordSchema.isCustomFieldName(field) ? "json_extract(custom, '$.\(field)')" : field
    }

    private func sortExpression(for field: String) -> String {
        if RecordSchema.systemFields.contains(field) { return field }
        if schema.field(named: field)?.isNumeric == true { return "COALESCE(\(field), \(Self.missingNumber))" }
        return "COALESCE(\(expression(for: field)), '')"
    }

    /// Where a missing number sorts: before every stored one.
    private static let missingNumber = Int64.min + 1

    private func isNumeric(_ field: String) -> Bool {
        field == "id" || field == "version" || schema.field(named: field)?.isNumeric == true
    }

    private func bindable(_ value: String, field: String) throws -> any DatabaseValueConvertible {
        guard isNumeric(field) else { return value }
        guard let number = Int64(value) else { throw InvalidField(field, "must be an integer") }
        return number
    }

    /// A cursor's sort value; an empty value of a numeric field stands for a missing one.
    private func sortBindable(_ value: String, field: String) throws -> any DatabaseValueConvertible {
        isNumeric(field) && value.isEmpty ? Self.missingNumber : try bindable(value, field: field)
    }
}
