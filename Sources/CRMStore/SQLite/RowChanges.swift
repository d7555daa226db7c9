import CRMCore
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// What the writer's transaction changed, seen through SQLite's update hook
/// on the writer connection: the cached records to forget once it commits,
/// and the reorders and feed gaps it created, for metrics.
///
/// The hook is one C call per changed row, rows changed by triggers and
/// foreign-key actions included. GRDB's transaction observers report the
/// same rows but also do bookkeeping around every statement, which cost the
/// writer about a tenth of its time.
final class RowChanges: Sendable {
    /// A committed transaction's changes.
    struct Summary {
        var records: Set<RecordCache.Key> = []
        var reorders = 0
        var feedGaps = 0
    }

    /// How far the counts had got, to undo a rolled-back savepoint's.
    struct Mark {
        fileprivate let reorders: Int
        fileprivate let feedGaps: Int
    }

    /// What a changed row of a watched table means.
    private enum Watch {
        case record(RecordKind)
        case reorder
        case feedGap
    }

    /// The watched tables, by name as C strings. Most changed rows are in others (events, links,
    /// search index), so a row's table name is compared as SQLite gives it, without making a
    /// String of it (this hook was 5% of the writer's time when each comparison bridged one).
    private static let watched: [(table: [CChar], watch: Watch)] = {
        let names: [(String, Watch)] =
            RecordKind.allCases.map { ($0.table.table, .record($0)) } + [
                ("reorders", .reorder), ("feed_gaps", .feedGap),
            ]
        return names.map { name, watch in (Array(name.utf8CString), watch) }
    }()
    private let state = Mutex(Summary())

    /// Starts receiving `db`'s row changes. The hook holds this object until ``uninstall(from:)``.
    func install(on db: Database) {
        let context = Unmanaged.passRetained(self).toOpaque()
        sqlite3_update_hook(
            db.sqliteConnection,
            { context, kind, _, table, rowID in
                guard let context, let table else { return }
                Unmanaged<RowChanges>.fromOpaque(context).takeUnretainedValue()
                    .changed(table: table, rowID: rowID, inserted: kind == SQLITE_INSERT)
            }, context)
    }

    /// Stops receiving `db`'s row changes and lets the hook's hold go.
    func uninstall(from db: Database) {
        if let context = sqlite3_update_hook(db.sqliteConnection, nil, nil) {
            Unmanaged<RowChanges>.fromOpaque(context).release()
        }
    }

    private func changed(table: UnsafePointer<CChar>, rowID: Int64, inserted: Bool) {
        guard let watch = Self.watched.first(where: { strcmp(table, $0.table) == 0 })?.watch else { return }
        switch watch {
        case .record(let type): state.withLock { _ = $0.records.insert(RecordCache.Key(type: type, id: rowID)) }
        case .reorder where inserted: state.withLock { $0.reorders += 1 }
        case .feedGap where inserted: state.withLock { $0.feedGaps += 1 }
        case .reorder, .feedGap: break
        }
    }

    func mark() -> Mark {
        state.withLock { Mark(reorders: $0.reorders, feedGaps: $0.feedGaps) }
    }

    /// Forgets the counts since `mark`: that savepoint was rolled back. Its
    /// records stay noted; forgetting a cached record that did not change is harmless.
    func rollBack(to mark: Mark) {
        state.withLock { state in
            state.reorders = mark.reorders
            state.feedGaps = mark.feedGaps
        }
    }

    /// The kinds of record changed since the last take: only theirs can have rows waiting for the search index.
    func changedKinds() -> Set<RecordKind> {
        state.withLock { Set($0.records.map(\.type)) }
    }

    /// The changes since the last take, which are then forgotten.
    func take() -> Summary {
        state.withLock { state in
            defer { state = Summary() }
            return state
        }
    }
}
