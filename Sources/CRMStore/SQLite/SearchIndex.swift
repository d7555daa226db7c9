import CRMCore
import GRDB

/// Keeps the FTS5 search tables in step with their records once per
/// transaction, not once per write.
///
/// Triggers note every row whose searchable text changes in a small pending
/// table — with the text the index holds for it, when it is indexed —
/// and ``flush(_:)`` brings the FTS5 table up to date from there right before
/// the group commit's COMMIT. Updated by triggers on every write instead,
/// FTS5 wrote a new index segment at each savepoint, and every write ran in
/// one then: that was most of a write's cost.
enum SearchIndex {
    /// A record table and its FTS5 index, with the statements that bring the index up to date.
    struct Index: Sendable {
        let kind: RecordKind
        let records: RecordTable
        /// The indexed columns, in the FTS5 table's order.
        let columns: [String]
        let fts: String
        let pending: String
        /// Whether any row is pending.
        let anyPending: String
        /// Deletes the indexed text of the pending rows the index holds.
        let deleteIndexed: String
        /// Indexes the current text of the pending rows that still exist.
        let indexCurrent: String
        let clearPending: String

        init(_ kind: RecordKind) {
            self.kind = kind
            records = kind.table
            columns = records.schema.fields.filter(\.searchable).map(\.name)
            fts = records.searchTable!
            pending = "\(fts)_pending"
            let listed = columns.joined(separator: ", ")
            anyPending = "SELECT EXISTS (SELECT 1 FROM \(pending))"
            deleteIndexed = """
                INSERT INTO \(fts) (\(fts), rowid, \(listed))
                SELECT 'delete', id, \(listed) FROM \(pending) WHERE indexed
                """
            indexCurrent = """
                INSERT INTO \(fts) (rowid, \(listed))
                SELECT r.id, \(columns.map { "r.\($0)" }.joined(separator: ", ")) FROM \(pending) p \
                JOIN \(records.table) r ON r.id = p.id
                """
            clearPending = "DELETE FROM \(pending)"
        }
    }

    static let indexes = RecordKind.allCases.map(Index.init)

    /// Replaces the per-row FTS5 triggers with pending-row triggers
    /// (migration v5). The index is already in step, so nothing is pending.
    static func install(_ db: Database) throws {
        for index in indexes {
            try db.dropFTS5SynchronizationTriggers(forTable: index.fts)
            let columns = index.columns.joined(separator: ", ")
            let old = index.columns.map { "old.\($0)" }.joined(separator: ", ")
            let table = index.records.table
            try db.execute(
                sql: """
                    CREATE TABLE \(index.pending) (
                        id INTEGER PRIMARY KEY,
                        indexed INTEGER NOT NULL,
                        \(index.columns.map { "\($0) TEXT" }.joined(separator: ", "))
                    );
                    CREATE TRIGGER \(index.pending)_insert AFTER INSERT ON \(table) BEGIN
                        INSERT OR IGNORE INTO \(index.pending) (id, indexed) VALUES (new.id, 0);
                    END;
                    CREATE TRIGGER \(index.pending)_update AFTER UPDATE OF \(columns) ON \(table) BEGIN
                        INSERT OR IGNORE INTO \(index.pending) (id, indexed, \(columns)) VALUES (old.id, 1, \(old));
                    END;
                    CREATE TRIGGER \(index.pending)_delete AFTER DELETE ON \(table) BEGIN
                        INSERT OR IGNORE INTO \(index.pending) (id, indexed, \(columns)) VALUES (old.id, 1, \(old));
                    END;
                    """)
        }
    }

    /// Applies the pending changes to the FTS5 tables: of every index, or of
    /// those of `kinds` (the writer knows which kinds of record its
    /// transaction changed; only their triggers note rows). The first noted
    /// version of a row is what the index holds (`OR IGNORE` keeps it), so
    /// that is what is deleted before the row's current text is indexed.
    static func flush(_ db: SQLiteTransaction, kinds: Set<RecordKind>? = nil) throws {
        for index in indexes where kinds?.contains(index.kind) != false {
            guard try db.value(Bool.self, index.anyPending) == true else { continue }
            try db.execute(index.deleteIndexed)
            try db.execute(index.indexCurrent)
            try db.execute(index.clearPending)
        }
    }

    /// Merges each index into one segment (FTS5's `optimize`; one already
    /// merged is left as it is). Every commit that indexes rows adds a
    /// segment, FTS5's own merging leaves dozens, and a prefix query visits
    /// each: a SEARCH of a benchmark-written tenant of 919,557 contacts took
    /// 350 µs of SQLite's time before the merge and 30 µs after (the merge took 0.18 s).
    static func compact(_ db: SQLiteTransaction) throws {
        for index in indexes {
            try db.execute("INSERT INTO \(index.fts)(\(index.fts)) VALUES('optimize')")
        }
    }
}
