import CRMCore
import Foundation

/// SQL for one record type laid out by its ``RecordSchema``: a column per
/// schema field, `x_*` custom fields in a JSON `custom` column, an optional
/// FTS5 index, and events appended beside every change.
struct RecordTable: Sendable {
    let schema: RecordSchema
    let table: String
    let searchTable: String?
    /// The columns every read selects, built once: reads are the hot path.
    private let selectList: String
    /// The schema's field names in column order: the read paths name each column by these
    /// rather than copying each field's description per row (4% of a FIND's time).
    private let fieldNames: [String]
    private let selectByID: String
    private let selectByExt: String
    /// The `INSERT`s of the field sets written, by a bit per schema field present (and one for `custom`).
    private let insertTexts = StatementTexts()

    init(schema: RecordSchema, table: String, searchTable: String?) {
        self.schema = schema
        self.table = table
        self.searchTable = searchTable
        precondition(schema.fields.count < Int.bitWidth - 1, "an INSERT's shape has a bit per field, and one more")
        fieldNames = schema.fields.map(\.name)
        selectList = (RecordSchema.systemFields + fieldNames + ["custom"]).joined(separator: ", ")
        selectByID = "SELECT \(selectList) FROM \(table) WHERE id = ?"
        selectByExt = "SELECT \(selectList) FROM \(table) WHERE ext = ?"
    }

    static let contacts = RecordTable(schema: .contact, table: "contacts", searchTable: "contacts_fts")
    static let companies = RecordTable(schema: .company, table: "companies", searchTable: "companies_fts")
    static let deals = RecordTable(schema: .deal, table: "deals", searchTable: "deals_fts")
    static let tickets = RecordTable(schema: .ticket, table: "tickets", searchTable: "tickets_fts")
    static let activities = RecordTable(schema: .activity, table: "activities", searchTable: nil)

    func fetch(_ db: any SQLDatabase, id: Int64) throws -> StoredRecord? {
        try records(db, sql: selectByID, arguments: [id]).first
    }

    func fetch(_ db: any SQLDatabase, ext: String) throws -> StoredRecord? {
        try records(db, sql: selectByExt, arguments: [ext]).first
    }

    func exists(_ db: any SQLDatabase, id: Int64) throws -> Bool {
        try db.value(Bool.self, "SELECT 1 FROM \(table) WHERE id = ?", [id]) ?? false
    }

    func insert(_ db: any SQLDatabase, _ changes: FieldChanges, actor: String?, now: String) throws -> Int64 {
        try checkReferences(db, changes)
        // The changed fields in the schema's order: found by name among the few changes, rather
        // than each of the schema's fields hashed into them (4% of the writer's time).
        var present: [(index: Int, value: String?)] = []
        present.reserveCapacity(changes.values.count)
        for (name, value) in changes.values {
            if let index = fieldNames.firstIndex(of: name) { present.append((index, value)) }
        }
        present.sort { $0.index < $1.index }
        var values: [any SQLBindable] = [now, now]
        values.reserveCapacity(present.count + 3)
        var shape = 0
        for (index, value) in present {
            shape |= 1 << index
            values.append(Self.databaseValue(value, schema.fields[index]))
        }
        if let custom = customJSON(merging: changes, into: [:]) {
            shape |= 1 << schema.fields.count
            values.append(custom)
        }
        let insert = insertTexts.text(db.dialect, shape: shape) {
            let present = schema.fields.indices.filter { shape & (1 << $0) != 0 }.map { schema.fields[$0].name }
            let custom = shape & (1 << schema.fields.count) != 0 ? ["custom"] : []
            return db.dialect.insertWithKey(
                into: table, key: "id", columns: ["created_at", "updated_at"] + present + custom,
                ignoringConflicts: true)
        }
        // A value a unique index holds already inserts nothing (and, unlike an error, leaves a PostgreSQL
        // transaction usable): the field and the record holding it are then looked up and named.
        guard let id = try db.insertedKey(insert, values) else {
            try explainUniqueViolation(db, changes, excluding: nil)
            throw StoreError.conflict("the \(schema.type) was not inserted: a value it must not share is taken")
        }
        try EventLog.append(
            db, type: "\(schema.type).created", recordType: schema.type, recordID: id, changes: changes, actor: actor,
            at: now, links: links(current: nil, changes))
        return id
    }

    /// Applies `changes` to `current` and returns the new version. `event`
    /// names the change in the event log (default `<type>.updated`) and
    /// `eventFields` describes it there when it is more than the changed fields.
    func update(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: FieldChanges, actor: String?, now: String,
        event: String? = nil, eventFields: FieldChanges? = nil
    ) throws -> Int64 {
        try checkReferences(db, changes)
        var assignments = ["version = version + 1", "updated_at = ?"]
        var values: [any SQLBindable] = [now]
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
        let setsUniqueField = schema.fields.contains { $0.unique && changes[$0.name] != nil }
        do {
            let update = "UPDATE \(table) SET \(assignments.joined(separator: ", ")) WHERE id = ?"
            if setsUniqueField {
                try db.recoverable { try db.execute(update, values) }
            } else {
                try db.execute(update, values)
            }
        } catch  where db.isUniqueViolation(error) {
            try explainUniqueViolation(db, changes, excluding: current.id)
            throw error
        }
        try EventLog.append(
            db, type: event ?? "\(schema.type).updated", recordType: schema.type, recordID: current.id,
            changes: eventFields ?? changes, actor: actor, at: now, links: links(current: current, changes))
        return current.version + 1
    }

    func delete(_ db: any SQLDatabase, id: Int64, actor: String?, now: String) throws {
        guard let current = try fetch(db, id: id) else { throw StoreError.notFound("no such \(schema.type)") }
        try db.execute("DELETE FROM \(table) WHERE id = ?", [id])
        try EventLog.append(
            db, type: "\(schema.type).deleted", recordType: schema.type, recordID: id, changes: FieldChanges(),
            actor: actor, at: now, links: links(current: current, FieldChanges()))
    }

    func find(_ db: any SQLDatabase, _ query: FindQuery) throws -> RecordPage {
        var records: [StoredRecord] = []
        let (_, next) = try forEachRowOfPage(db, query) { row in
            let record = record(row)
            records.append(record)
            return record[query.sortField] ?? ""
        }
        return RecordPage(records: records, next: next)
    }

    /// A `FIND` page written into `writer` row by row, as ``find(_:_:)`` finds
    /// it, and the cursor to the next page if more follow. A row holding
    /// custom fields is read into a ``StoredRecord`` first (they are JSON).
    /// The sort field is a system or schema field: custom ones take ``find(_:_:)``.
    func find(_ db: any SQLDatabase, _ query: FindQuery, into writer: inout some RecordPageWriter) throws -> (
        count: Int, next: FindCursor?
    ) {
        let sortColumn = Self.column(of: query.sortField, in: schema)
        let customColumn = 4 + schema.fields.count
        return try forEachRowOfPage(db, query) { row in
            let id = row.integer(0) ?? 0
            let sortValue = sortColumn == 0 ? String(id) : row.text(sortColumn) ?? ""
            guard row.isNull(customColumn) else {
                writer.write(record(row))
                return sortValue
            }
            let version = row.integer(1) ?? 0
            // The timestamps (columns 2 and 3), then the schema's fields.
            row.withTexts(2..<customColumn) { texts in
                writer.startRecord(fieldCount: 4 + texts[2...].count { $0 != nil })
                writer.field("id", decimal: id)
                writer.field("version", decimal: version)
                writer.field("created_at", texts[0] ?? UnsafeRawBufferPointer(start: nil, count: 0))
                writer.field("updated_at", texts[1] ?? UnsafeRawBufferPointer(start: nil, count: 0))
                for (offset, name) in fieldNames.enumerated() {
                    if let text = texts[2 + offset] { writer.field(name, text) }
                }
            }
            return sortValue
        }
    }

    /// Runs `query`'s statement and hands each row of the page to `body`,
    /// which returns the row's sort value; returns how many rows the page has
    /// and the cursor to the next page if more follow (the statement fetches
    /// one row past the limit to know).
    private func forEachRowOfPage(
        _ db: any SQLDatabase, _ query: FindQuery, _ body: (any SQLColumns) throws -> String
    ) throws -> (count: Int, next: FindCursor?) {
        // A search behind a write in the same batch must find what that write indexed.
        if query.search != nil { try db.prepareSearch() }
        let (sql, arguments) = try findStatement(query, dialect: db.dialect)
        var count = 0
        var last: (id: Int64, sortValue: String)?
        var next: FindCursor?
        try db.forEachRow(sql, arguments) { row in
            guard count < query.limit else {
                if let last {
                    next = FindCursor(
                        sortField: query.sortField, descending: query.descending, sortValue: last.sortValue,
                        id: last.id)
                }
                return
            }
            count += 1
            last = (row.integer(0) ?? 0, try body(row))
        }
        return (count, next)
    }

    /// The column of ``selectList`` holding system or schema field `name`.
    private static func column(of name: String, in schema: RecordSchema) -> Int {
        if let system = RecordSchema.systemFields.firstIndex(of: name) { return system }
        return 4 + (schema.fields.firstIndex { $0.name == name } ?? 0)
    }

    /// The SQL and arguments of a `FIND` page (one row more than the limit, to know if more follow).
    /// A search reads its matches first, in id order, so a page sorted by id
    /// stops after its rows instead of collecting every match.
    func findStatement(_ query: FindQuery, dialect: any SQLDialect) throws -> (
        sql: String, arguments: [any SQLBindable]
    ) {
        var clauses: [String] = []
        var arguments: [any SQLBindable] = []
        var source = table
        var idColumn = "id"
        if query.search != nil {
            guard searchTable != nil else {
                throw InvalidField("SEARCH", "\(schema.type) records are not searchable")
            }
            let words = query.searchWords
            guard !words.isEmpty else { throw InvalidField("SEARCH", "has no words to search for") }
            source = dialect.searchSource(records: self)
            arguments.append(dialect.searchPattern(words))
            idColumn = "hit"
        }
        for condition in query.conditions {
            let column = expression(for: condition.field, dialect)
            if condition.value.isEmpty, condition.op == .equal || condition.op == .notEqual {
                clauses.append("\(column) IS \(condition.op == .equal ? "" : "NOT ")NULL")
                continue
            }
            let value = try bindable(condition.value, field: condition.field)
            switch condition.op {
            case .equal: clauses.append("\(column) = ?")
            case .notEqual: clauses.append("\(column) \(dialect.isDistinctFrom) ?")
            case .less: clauses.append("\(column) < ?")
            case .lessOrEqual: clauses.append("\(column) <= ?")
            case .greater: clauses.append("\(column) > ?")
            case .greaterOrEqual: clauses.append("\(column) >= ?")
            case .prefix:
                clauses.append("(\(column) >= ? AND \(column) < \(dialect.prefixUpperBound))")
                arguments.append(condition.value)
            }
            arguments.append(condition.op == .prefix ? condition.value : value)
        }
        let sort = sortExpression(for: query.sortField, dialect)
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
        return (sql, arguments)
    }

    // MARK: - Rows and values

    /// The records a `SELECT` of ``selectList`` finds.
    private func records(_ db: any SQLDatabase, sql: String, arguments: [any SQLBindable]) throws -> [StoredRecord] {
        var records: [StoredRecord] = []
        try db.forEachRow(sql, arguments) { row in records.append(record(row)) }
        return records
    }

    private func record(_ row: any SQLColumns) -> StoredRecord {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(fieldNames.count)
        for (offset, name) in fieldNames.enumerated() {
            if let value = row.text(4 + offset) {
                fields.append((name, value))
            }
        }
        if let custom = row.text(4 + fieldNames.count),
            let object = try? JSONSerialization.jsonObject(with: Data(custom.utf8)) as? [String: String]
        {
            fields += object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return StoredRecord(
            id: row.integer(0) ?? 0, version: row.integer(1) ?? 0, createdAt: row.text(2) ?? "",
            updatedAt: row.text(3) ?? "", fields: fields)
    }

    /// A validated value as it is stored: numbers as integers, the rest as text.
    static func databaseValue(_ value: String?, _ field: RecordSchema.Field) -> any SQLBindable {
        guard let value else { return SQLValue.null }
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
    private func checkReferences(_ db: any SQLDatabase, _ changes: FieldChanges) throws {
        for field in schema.fields {
            guard case .reference(let type) = field.kind, case .some(.some(let value)) = changes[field.name],
                let id = Int64(value), let target = RecordKind(rawValue: type)?.table
            else { continue }
            guard try target.exists(db, id: id) else {
                throw InvalidField(field.name, "no such \(type) \(id)")
            }
        }
    }

    /// Throws naming the unique field of `changes` whose value another record
    /// (not `id`) holds, and that record, if there is one.
    private func explainUniqueViolation(_ db: any SQLDatabase, _ changes: FieldChanges, excluding id: Int64?) throws {
        for field in schema.fields where field.unique {
            guard case .some(.some(let value)) = changes[field.name] else { continue }
            let other = try db.value(
                Int64.self, "SELECT id FROM \(table) WHERE \(field.name) = ? AND id \(db.dialect.isDistinctFrom) ?",
                [value, id])
            if let other {
                throw InvalidField(field.name, "already used by \(schema.type) \(other)")
            }
        }
    }

    /// The SQL expression of a queryable field; names are validated by the schema before they get here.
    private func expression(for field: String, _ dialect: any SQLDialect) -> String {
        RecordSchema.isCustomFieldName(field) ? dialect.customField(field) : field
    }

    private func sortExpression(for field: String, _ dialect: any SQLDialect) -> String {
        if RecordSchema.systemFields.contains(field) { return field }
        if schema.field(named: field)?.isNumeric == true { return "COALESCE(\(field), \(Self.missingNumber))" }
        return "COALESCE(\(expression(for: field, dialect)), '')"
    }

    /// Where a missing number sorts: before every stored one.
    private static let missingNumber = Int64.min + 1

    private func isNumeric(_ field: String) -> Bool {
        field == "id" || field == "version" || schema.field(named: field)?.isNumeric == true
    }

    private func bindable(_ value: String, field: String) throws -> any SQLBindable {
        guard isNumeric(field) else { return value }
        guard let number = Int64(value) else { throw InvalidField(field, "must be an integer") }
        return number
    }

    /// A cursor's sort value; an empty value of a numeric field stands for a missing one.
    private func sortBindable(_ value: String, field: String) throws -> any SQLBindable {
        isNumeric(field) && value.isEmpty ? Self.missingNumber : try bindable(value, field: field)
    }
}
