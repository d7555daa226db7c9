import CRMCore
import CRMProtocol
import NIOCore

/// Records as replies: a map of field to value (RESP3), which RESP2 clients
/// receive as a flat field/value array like `HGETALL`. Values are bulk strings.
///
/// The reply's bytes are written straight into one buffer for the
/// connection's protocol version: a FIND page spent more building a value per
/// field, and encoding those, than SQLite spent finding its records.
enum RecordReply {
    static func record(_ record: StoredRecord, version: RESPVersion) -> RESPValue {
        .encoded(bytes(of: record, version: version))
    }

    /// The reply to a read of `record` as bytes, for `version` (the record cache keeps them).
    static func bytes(of record: StoredRecord, version: RESPVersion) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.reserveCapacity(size(of: record))
        write(record, version: version, into: &bytes)
        return bytes
    }

    /// `[next-cursor, [record ...]]`; the cursor is `0` on the last page, as with `SCAN`.
    static func page(_ page: RecordPage, version: RESPVersion) -> RESPValue {
        var bytes = ByteBuffer()
        bytes.reserveCapacity(32 + page.records.reduce(0) { $0 + size(of: $1) })
        bytes.writeRESPArrayHeader(2)
        bytes.writeRESPBulk(page.next?.encoded ?? "0")
        bytes.writeRESPArrayHeader(page.records.count)
        for record in page.records { write(record, version: version, into: &bytes) }
        return .encoded(bytes)
    }

    /// The record's ``StoredRecord/allFields``, in their order, without building that array.
    private static func write(_ record: StoredRecord, version: RESPVersion, into bytes: inout ByteBuffer) {
        bytes.writeRESPMapHeader(4 + record.fields.count, version: version)
        bytes.writeRESPBulk("id")
        bytes.writeRESPBulk(decimal: record.id)
        bytes.writeRESPBulk("version")
        bytes.writeRESPBulk(decimal: record.version)
        bytes.writeRESPBulk("created_at")
        bytes.writeRESPBulk(record.createdAt)
        bytes.writeRESPBulk("updated_at")
        bytes.writeRESPBulk(record.updatedAt)
        for field in record.fields {
            bytes.writeRESPBulk(field.name)
            bytes.writeRESPBulk(field.value)
        }
    }

    /// About the bytes a record's reply takes: its fields' text, 16 bytes of
    /// framing a field, and 96 for the system fields (id, version, timestamps).
    private static func size(of record: StoredRecord) -> Int {
        record.fields.reduce(96) { $0 + $1.name.utf8.count + $1.value.utf8.count + 16 }
    }
}
