import CRMTestSupport
import GRDB
import Testing

@testable import CRMStore

/// Reads off the event loops run on a tenant's own reader connections, a few
/// at a time, each in a transaction of its own.
@Suite struct BackgroundReadTests {
    /// A WAL database of `rows` rows in table `t`, as a tenant's file is.
    private static func database(_ directory: TemporaryDirectory, rows: Int) throws -> (DatabaseQueue, String) {
        let path = directory.path + "/reads.sqlite"
        var configuration = Configuration()
        configuration.journalMode = .wal
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)")
            for id in 1...rows { try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id]) }
        }
        return (queue, path)
    }

    private static func count(_ readers: BackgroundReaders) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            readers.read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") ?? -1 }) {
                continuation.resume(with: $0)
            }
        }
    }

    @Test func manyReadsAtOnceAreEachAnsweredOnTheFewConnections() async throws {
        let directory = try TemporaryDirectory()
        let (writer, path) = try Self.database(directory, rows: 100)
        let readers = BackgroundReaders(path: path, label: "test")
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<64 { group.addTask { try await Self.count(readers) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == Array(repeating: 100, count: 64))
        // A read after a commit sees it; released connections open again for the next read.
        try await writer.write { try $0.execute(sql: "INSERT INTO t (id) VALUES (101)") }
        readers.release()
        #expect(try await Self.count(readers) == 101)
        readers.close()
        await #expect(throws: StoreError.self) { try await Self.count(readers) }
    }

    /// A read's statements share one snapshot: a commit between them is not seen by the second.
    @Test func aReadSeesOneSnapshot() async throws {
        let directory = try TemporaryDirectory()
        let (writer, path) = try Self.database(directory, rows: 10)
        let readers = BackgroundReaders(path: path, label: "test")
        let (first, second) = try await withCheckedThrowingContinuation { continuation in
            readers.read({ db in
                let first = try Int.fetchOne(db, sql: "SELECT count(*) FROM t") ?? -1
                try writer.write { try $0.execute(sql: "INSERT INTO t (id) VALUES (11)") }
                return (first, try Int.fetchOne(db, sql: "SELECT count(*) FROM t") ?? -1)
            }) { continuation.resume(with: $0) }
        }
        #expect(first == 10 && second == 10)
        #expect(try await Self.count(readers) == 11)
        readers.close()
    }
}
