import CRMCore

/// Takes a `FIND` page's records field by field as they are read, so a reply
/// is written from the database's rows without a ``StoredRecord`` (and a
/// `String` per field) each: building those took longer than SQLite took
/// to find the records.
public protocol RecordPageWriter {
    /// Starts a record of `fieldCount` fields, its system fields included; they follow in order.
    mutating func startRecord(fieldCount: Int)
    /// A field whose value is the UTF-8 text `value`.
    mutating func field(_ name: String, _ value: UnsafeRawBufferPointer)
    /// A field whose value is `value` in decimal.
    mutating func field(_ name: String, decimal value: Int64)
}

extension RecordPageWriter {
    /// Writes `record` as it is: its ``StoredRecord/allFields``, in their order.
    public mutating func write(_ record: StoredRecord) {
        startRecord(fieldCount: 4 + record.fields.count)
        field("id", decimal: record.id)
        field("version", decimal: record.version)
        field("created_at", record.createdAt)
        field("updated_at", record.updatedAt)
        for field in record.fields { self.field(field.name, field.value) }
    }

    /// A field whose value is `value`.
    public mutating func field(_ name: String, _ value: String) {
        var value = value
        value.withUTF8 { field(name, UnsafeRawBufferPointer($0)) }
    }
}
