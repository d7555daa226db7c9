import CRMCore
import CRMProtocol
import CRMStore
import NIOCore
import Testing

@testable import CRMGateway

/// Records written straight to bytes reply exactly what the value tree of a
/// map per record (RESP3), a flat array per record (RESP2), would encode to.
@Suite struct RecordReplyTests {
    private let records = [
        StoredRecord(
            id: 7, version: 3, createdAt: "2026-11-30T05:00:00Z", updatedAt: "2026-11-30T05:01:00Z",
            fields: [("email", "zoë@example.com"), ("notes", "")]),
        StoredRecord(
            id: 12, version: 1, createdAt: "2026-11-30T05:02:00Z", updatedAt: "2026-11-30T05:02:00Z",
            fields: [("first_name", String(repeating: "x", count: 300))]),
    ]

    private func tree(_ record: StoredRecord) -> RESPValue {
        .map(record.allFields.map { (RESPValue.bulk($0.name), RESPValue.bulk($0.value)) })
    }

    private func bytes(_ value: RESPValue, _ version: RESPVersion) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value, version: version)
        return Array(buffer.readableBytesView)
    }

    @Test func aRecordIsItsMapOfFieldsForEitherProtocol() {
        for version in [RESPVersion.resp2, .resp3] {
            #expect(
                bytes(RecordReply.record(records[0], version: version), version) == bytes(tree(records[0]), version))
        }
    }

    /// With room for the header before the records (written there) or without (the records are copied after it).
    @Test(arguments: [0, 8, 64]) func aPageIsItsCursorThenItsRecords(headerRoom: Int) {
        let cursor = FindCursor(sortField: "id", descending: false, sortValue: "12", id: 12)
        for version in [RESPVersion.resp2, .resp3] {
            for next in [cursor, nil] {
                var writer = RecordReply.PageWriter(version: version, headerRoom: headerRoom)
                for record in records { writer.write(record) }
                let expected = RESPValue.array([.bulk(next?.encoded ?? "0"), .array(records.map(tree))])
                #expect(bytes(writer.reply(count: records.count, next: next), version) == bytes(expected, version))
            }
            var empty = RecordReply.PageWriter(version: version, headerRoom: headerRoom)
            #expect(
                bytes(empty.reply(count: 0, next: nil), version) == bytes(.array([.bulk("0"), .array([])]), version))
        }
    }
}
