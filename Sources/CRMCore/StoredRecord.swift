/// A stored record as commands return it: system fields, then its set fields
/// in schema order, then custom fields by name.
public struct StoredRecord: Sendable, Equatable {
    public var id: Int64
    public var version: Int64
    public var createdAt: String
    public var updatedAt: String
    public var fields: [(name: String, value: String)]

    public init(
        id: Int64, version: Int64, createdAt: String, updatedAt: String, fields: [(name: String, value: String)]
    ) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.fields = fields
    }

    /// The value of a field, system fields included.
    public subscript(name: String) -> String? {
        switch name {
        case "id": String(id)
        case "version": String(version)
        case "created_at": createdAt
        case "updated_at": updatedAt
        default: fields.first { $0.name == name }?.value
        }
    }

    /// Every field and value, system fields first.
    public var allFields: [(name: String, value: String)] {
        [("id", String(id)), ("version", String(version)), ("created_at", createdAt), ("updated_at", updatedAt)]
            + fields
    }

    public static func == (lhs: StoredRecord, rhs: StoredRecord) -> Bool {
        lhs.allFields.map { "\($0.name)=\($0.value)" } == rhs.allFields.map { "\($0.name)=\($0.value)" }
    }
}

/// One page of a `FIND`: records and, if more may follow, the cursor to continue.
public struct RecordPage: Sendable {
    public var records: [StoredRecord]
    public var next: FindCursor?

    public init(records: [StoredRecord], next: FindCursor?) {
        self.records = records
        self.next = next
    }
}
