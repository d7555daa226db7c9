import CRMCore
import CRMProtocol
import CRMStore
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
        var writer = PageWriter(version: version, capacity: size(of: record))
        writer.write(record)
        return writer.records
    }

    /// `[next-cursor, [record ...]]` of a `FIND` of `records`; the cursor is
    /// `0` on the last page, as with `SCAN`. The records are written as the
    /// store reads them (``RecordPageWriter``), after the cursor it learns last.
    static func page<Access>(
        of records: RecordCollection<Access>, _ query: FindQuery, version: RESPVersion
    ) throws -> RESPValue {
        var writer = PageWriter(version: version, capacity: min(query.limit, 256) * 256, headerRoom: 64)
        let (count, next) = try records.find(query, into: &writer)
        return writer.reply(count: count, next: next)
    }

    /// Records as replies, written field by field one after another: a
    /// page's, or the one of ``bytes(of:version:)``.
    struct PageWriter: RecordPageWriter {
        let version: RESPVersion
        /// Bytes left free before the records for the page's header (``reply(count:next:)``).
        private let headerRoom: Int
        /// The replies of the records written so far, after `headerRoom` free bytes.
        private var buffer = ByteBuffer()

        /// `capacity`: about the bytes the records take, reserved at once.
        init(version: RESPVersion, capacity: Int = 0, headerRoom: Int = 0) {
            self.version = version
            self.headerRoom = headerRoom
            buffer.reserveCapacity(headerRoom + capacity)
            buffer.moveWriterIndex(forwardBy: headerRoom)
            buffer.moveReaderIndex(forwardBy: headerRoom)
        }

        /// The replies of the records written so far.
        var records: ByteBuffer { buffer }

        /// The page's reply: `next`'s cursor, then the `count` records written.
        /// The header goes into the room left before the records, if it fits
        /// there: a page is not copied to put it in front.
        mutating func reply(count: Int, next: FindCursor?) -> RESPValue {
            var header = ByteBuffer()
            header.reserveCapacity(headerRoom)
            header.writeRESPArrayHeader(2)
            header.writeRESPBulk(next?.encoded ?? "0")
            header.writeRESPArrayHeader(count)
            guard header.readableBytes <= buffer.readerIndex else {
                header.writeImmutableBuffer(buffer)
                return .encoded(header)
            }
            let start = buffer.readerIndex - header.readableBytes
            buffer.setBuffer(header, at: start)
            buffer.moveReaderIndex(to: start)
            return .encoded(buffer)
        }

        mutating func startRecord(fieldCount: Int) {
            buffer.writeRESPMapHeader(fieldCount, version: version)
        }

        mutating func field(_ name: String, _ value: UnsafeRawBufferPointer) {
            buffer.writeRESPBulk(name)
            buffer.writeRESPBulk(bytes: value)
        }

        mutating func field(_ name: String, decimal value: Int64) {
            buffer.writeRESPBulk(name)
            buffer.writeRESPBulk(decimal: value)
        }
    }

    /// About the bytes a record's reply takes: its fields' text, 16 bytes of
    /// framing a field, and 96 for the system fields (id, version, timestamps).
    private static func size(of record: StoredRecord) -> Int {
        record.fields.reduce(96) { $0 + $1.name.utf8.count + $1.value.utf8.count + 16 }
    }
}
