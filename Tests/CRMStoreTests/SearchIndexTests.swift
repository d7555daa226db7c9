import CRMCore
import CRMStore
import CRMTestSupport
import Foundation
import GRDB
import Testing

/// The FTS5 indexes are brought up to date once per commit, from the rows
/// the commit's writes noted: searches must still see every committed change.
@Suite struct SearchIndexTests {
    let acme: AcmeTenant
    var database: TenantDatabase { acme.database }

    init() async throws {
        acme = try await AcmeTenant()
    }

    private static func contact(_ pairs: KeyValuePairs<String, String>) throws -> FieldChanges {
        try RecordSchema.contact.validate(pairs.map { ($0.key, $0.value) })
    }

    private static func search(_ words: String, in transaction: TenantReader) throws -> [String?] {
        try transaction.contacts.find(FindQuery.parse(["SEARCH", words], schema: .contact)).records.map {
            $0["first_name"]
        }
    }

    private func search(_ words: String) async throws -> [String?] {
        try await database.read { try Self.search(words, in: $0) }
    }

    /// FTS5's own check of an external-content index against its table
    /// (rank 1 compares every row), plus what is still waiting to be indexed.
    /// On PostgreSQL the search vector is a generated column: nothing to check or wait for.
    private func checkIndexes() throws -> (pendingRows: Int, failures: [String]) {
        guard !TestStorage.isPostgres else { return (0, []) }
        let queue = try DatabaseQueue(path: acme.tenants.path(of: database.name))
        var failures: [String] = []
        var pending = 0
        for table in ["contacts", "companies", "deals", "tickets"] {
            do {
                try queue.write {
                    try $0.execute(sql: "INSERT INTO \(table)_fts(\(table)_fts, rank) VALUES('integrity-check', 1)")
                }
            } catch {
                failures.append("\(table): \(error)")
            }
            pending += try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM \(table)_fts_pending") ?? 0 }
        }
        return (pending, failures)
    }

    private func writeEach(_ bodies: [@Sendable (TenantWriter) throws -> String]) async throws -> [Result<
        String, any Error
    >] {
        try await withCheckedThrowingContinuation { continuation in
            database.writeEach(bodies) { continuation.resume(with: $0) }
        }
    }

    @Test func searchesFollowAddsChangesAndDeletesAcrossCommits() async throws {
        let id = try await database.write { try $0.contacts.add(Self.contact(["first_name": "Zebedee"]), actor: nil) }
        #expect(try await search("zebe") == ["Zebedee"])
        _ = try await database.write {
            try $0.contacts.set(
                id: id, Self.contact(["first_name": "Yannick"]), ifVersion: nil, force: false, actor: nil)
        }
        #expect(try await search("zebe") == [], "the old words left the index")
        #expect(try await search("yann") == ["Yannick"])
        _ = try await database.write {
            try $0.contacts.set(id: id, Self.contact(["title": "CTO"]), ifVersion: nil, force: false, actor: nil)
        }
        #expect(try await search("yann") == ["Yannick"], "a change to an unindexed field keeps the entry")
        try await database.write { try $0.contacts.delete(id: id, actor: nil) }
        #expect(try await search("yann") == [])
        let check = try checkIndexes()
        #expect(check.failures == [])
        #expect(check.pendingRows == 0)
    }

    @Test func oneBatchIndexesWhatItsWritesLeftAndNothingOfAFailedOne() async throws {
        let kept = try await database.write { try $0.contacts.add(Self.contact(["first_name": "Quentin"]), actor: nil) }
        let added = try Self.contact(["first_name": "Ophelia", "email": "o@example.com"])
        let duplicate = try Self.contact(["first_name": "Xavier", "email": "o@example.com"])
        let renamed = try Self.contact(["first_name": "Rosalind"])
        let results = try await writeEach([
            { try String($0.contacts.add(added, actor: nil)) },
            // Fails on the unique email after its row was noted: nothing of it may reach the index.
            { try String($0.contacts.add(duplicate, actor: nil)) },
            { try String($0.contacts.set(id: kept, renamed, ifVersion: nil, force: false, actor: nil)) },
            // A search behind the writes in the same transaction sees them.
            {
                try Self.search("rosa", in: $0.reader).compactMap { $0 }.joined() + "|"
                    + Self.search("quen", in: $0.reader).compactMap { $0 }.joined()
            },
        ])
        #expect(throws: InvalidField.self) { try results[1].get() }
        #expect(try results[3].get() == "Rosalind|")
        #expect(try await search("ophe") == ["Ophelia"])
        #expect(try await search("xavi") == [], "the failed write's row is not indexed")
        #expect(try await search("quen") == [])
        #expect(try await search("rosa") == ["Rosalind"])
        let check = try checkIndexes()
        #expect(check.failures == [])
        #expect(check.pendingRows == 0)
    }

    /// 40 commits of 26 contacts named `<name><commit>x<index>`: past the 1,000
    /// writes a merge waits for, a segment per commit. Returns the index's rows.
    private func writeASegmentPerCommit(named name: String) async throws -> Int {
        for commit in 0..<40 {
            let bodies: [@Sendable (TenantWriter) throws -> String] = (0..<26).map { index in
                { try String($0.contacts.add(Self.contact(["first_name": "\(name)\(commit)x\(index)"]), actor: nil)) }
            }
            for result in try await writeEach(bodies) { _ = try result.get() }
        }
        return try contactIndexRows()
    }

    private func contactIndexRows() throws -> Int {
        let queue = try DatabaseQueue(path: acme.tenants.path(of: database.name))
        return try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM contacts_fts_data") ?? 0 }
    }

    /// The index's rows once they are fewer than `before` (the merge runs as a
    /// write on the tenant's writer), or after ten seconds.
    private func contactIndexRows(fewerThan before: Int) async throws -> Int {
        var after = before
        for _ in 0..<200 where after >= before {
            try await Task.sleep(for: .milliseconds(50))
            after = try contactIndexRows()
        }
        return after
    }

    /// A tenant gone idle after enough writes has each search index merged
    /// into one segment (a prefix search visits every segment, and each
    /// commit adds one); what a search finds is unchanged.
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files"))
    func anIdleTenantsIndexIsMergedAfterEnoughWrites() async throws {
        let before = try await writeASegmentPerCommit(named: "Segment")
        await acme.tenants.releaseIdle(olderThan: .zero)
        let after = try await contactIndexRows(fewerThan: before)
        #expect(after < before, "the index's rows: \(before) before the idle release, \(after) after")
        #expect(try await search("segment39x25") == ["Segment39x25"])
        #expect(try await search("segment0x0") == ["Segment0x0"])
        #expect(try checkIndexes().failures == [])
    }

    /// A tenant that goes on being read once its writes stop has its indexes
    /// merged too: a tenant read all day and written in bursts would
    /// otherwise search through a segment per commit until it fell wholly idle.
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files"))
    func aTenantStillReadIsMergedOnceItsWritesStop() async throws {
        let before = try await writeASegmentPerCommit(named: "Burst")
        // The writes end well before the cutoff, the read comes well after it.
        try await Task.sleep(for: .milliseconds(200))
        let cutoff = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await search("burst0x0") == ["Burst0x0"])
        await acme.tenants.releaseIdle(olderThan: ContinuousClock.now - cutoff - .milliseconds(100))
        let after = try await contactIndexRows(fewerThan: before)
        #expect(after < before, "the index's rows: \(before) before the housekeeping, \(after) after")
        #expect(try await search("burst39x25") == ["Burst39x25"])
        #expect(try checkIndexes().failures == [])
    }

    @Test func otherRecordTypesAreIndexedTheSameWay() async throws {
        let company = try RecordSchema.company.validate([("name", "Wombat Logistics")])
        let id = try await database.write { try $0.companies.add(company, actor: nil) }
        let renamed = try RecordSchema.company.validate([("name", "Kestrel Freight")])
        _ = try await database.write {
            try $0.companies.set(id: id, renamed, ifVersion: nil, force: false, actor: nil)
        }
        let names = try await database.read { transaction in
            try ["womb", "kest"].map { word in
                try transaction.companies.find(FindQuery.parse(["SEARCH", word], schema: .company)).records.count
            }
        }
        #expect(names == [0, 1])
        let check = try checkIndexes()
        #expect(check.failures == [])
        #expect(check.pendingRows == 0)
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func everyIndexHasItsSchemasSearchableColumns() throws
    {
        let queue = try DatabaseQueue(path: acme.tenants.path(of: database.name))
        for (table, schema) in [
            ("contacts", RecordSchema.contact), ("companies", .company), ("deals", .deal), ("tickets", .ticket),
        ] {
            let indexed = try queue.read { try $0.columns(in: "\(table)_fts").map(\.name) }
            #expect(indexed == schema.fields.filter(\.searchable).map(\.name), "\(table)")
        }
    }
}
