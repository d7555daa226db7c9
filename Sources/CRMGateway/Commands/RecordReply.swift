import CRMCore
import CRMProtocol

/// Records as replies: a map of field to value (RESP3), which RESP2 clients
/// receive as a flat field/value array like `HGETALL`. Values are bulk strings.
enum RecordReply {
    static func record(_ record: StoredRecord) -> RESPValue {
        .map(record.allFields.map { (.bulk($0.name), .bulk($0.value)) })
    }

    /// `[next-cursor, [record ...]]`; the cursor is `0` on the last page, as with `SCAN`.
    static func page(_ page: RecordPage) -> RESPValue {
        .array([.bulk(page.next?.encoded ?? "0"), .array(page.records.map(record))])
    }
}
