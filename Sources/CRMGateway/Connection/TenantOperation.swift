import CRMCore
import CRMProtocol
import CRMStore
import NIOCore

/// Work on the session's tenant database. The session runs consecutive
/// operations of a pipeline in one transaction: reads on a snapshot, writes in
/// one group commit, a failed write undoing only its own changes.
struct TenantOperation: Sendable {
    /// What the operation does: only a write body gets a ``TenantWriter``.
    enum Body: Sendable {
        case read(@Sendable (TenantReader) throws -> RESPValue)
        case write(@Sendable (TenantWriter) throws -> RESPValue)

        /// The body as a read, or nil if it writes.
        var readOnly: (@Sendable (TenantReader) throws -> RESPValue)? {
            if case .read(let read) = self { return read }
            return nil
        }

        /// The body run inside a write transaction; a read sees the transaction's changes so far.
        var inWrite: @Sendable (TenantWriter) throws -> RESPValue {
            switch self {
            case .read(let read): { writer in try read(writer.reader) }
            case .write(let write): write
            }
        }
    }

    let database: TenantDatabase
    let body: Body
    /// The command-table name, for the log when the operation fails unexpectedly.
    var command = ""
    /// Connection id and command number, for the log.
    var requestID = RequestID(client: 0, command: 0)
    /// The record this operation reads (by id or ext), if the tenant's record
    /// cache may answer instead of `run`.
    var cachedRecord: (type: RecordKind, reference: RecordReference)?
    /// A read whose SQLite work is not bounded by its statements' steps (a
    /// full-text search's matching runs inside one step) or is large by
    /// design (analytics over every record): it goes straight to a reader
    /// thread instead of trying the event loop first.
    var mayTakeLong = false

    var writes: Bool { body.readOnly == nil }

    /// Writes the reply from the record cache, encoded for `version`, into
    /// `output` if this operation is a cached record's read; false if not.
    /// The encoded reply is kept with the cached record, so a repeated read
    /// costs one copy.
    func writeReplyFromCache(version: RESPVersion, into output: inout ByteBuffer) -> Bool {
        guard let (type, reference) = cachedRecord else { return false }
        return database.cachedReply(
            type, reference, format: version.rawValue,
            encode: { Array(RecordReply.bytes(of: $0, version: version).readableBytesView) },
            write: { output.writeBytes($0) })
    }
}

/// Names one command in the log as `<connection id>-<command number>`;
/// formatted only when a log line needs it.
struct RequestID: Sendable, CustomStringConvertible {
    let client: Int
    let command: Int

    var description: String { "\(client)-\(command)" }
}
