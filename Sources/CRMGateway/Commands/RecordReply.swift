import CRMCore
import CRMProtocol
import NIOCore

/// Records as replies: a map of field to value (RESP3), which RESP2 clients
/// receive as a flat field/value array like `HGETALL`. Values are bulk strings.
enum RecordReply {
    /// The record's names and values are laid out in one buffer and replied
    /// as slices of it: one allocation a record, not two a field (a FIND
    /// page spent more on those than SQLite spent finding its records).
    static func record(_ record: StoredRecord) -> RESPValue {
        let fields = record.allFields
        var text = ByteBuffer()
        text.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
        var lengths: [(name: Int, value: Int)] = []
        lengths.reserveCapacity(fields.count)
        for field in fields {
            lengths.append((text.writeString(field.name), text.writeString(field.value)))
        }
        // Sliced only once every byte is written: a slice shares the storage, and a write after it would copy it.
        var pairs: [(key: RESPValue, value: RESPValue)] = []
        pairs.reserveCapacity(fields.count)
        for length in lengths {
            pairs.append(
                (.bulkString(text.readSlice(length: length.name)!), .bulkString(text.readSlice(length: length.value)!)))
        }
        return .map(pairs)
    }

    /// `[next-cursor, [record ...]]`; the cursor is `0` on the last page, as with `SCAN`.
    static func page(_ page: RecordPage) -> RESPValue {
        .array([.bulk(page.next?.encoded ?? "0"), .array(page.records.map(record))])
    }
}
