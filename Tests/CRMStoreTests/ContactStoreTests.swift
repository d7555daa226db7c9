import CRMCore
import CRMStore
import CRMTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

@Suite struct ContactStoreTests {
    let acme: AcmeTenant
    var directory: TemporaryDirectory { acme.directory }
    var tenants: TenantDirectory { acme.tenants }
    var database: TenantDatabase { acme.database }

    init() async throws {
        acme = try await AcmeTenant()
    }

    private func changes(_ pairs: KeyValuePairs<String, String>) throws -> FieldChanges {
        try RecordSchema.contact.validate(pairs.map { ($0.key, $0.value) })
    }

    @Test func addGetSetDelete() async throws {
        let contacts = database
        let id = try await contacts.add(
            changes(["email": "ada@example.com", "first_name": "Ada", "x_score": "7"]), actor: "k_1")
        var record = try await contacts.get(id: id)
        #expect(record.version == 1)
        #expect(record["email"] == "ada@example.com")
        #expect(record["x_score"] == "7")

        let version = try await contacts.set(
            id: id, changes(["first_name": "", "x_score": "9"]), ifVersion: 1, force: false, actor: nil)
        #expect(version == 2)
        record = try await contacts.get(id: id)
        #expect(record["first_name"] == nil)
        #expect(record["x_score"] == "9")

        await #expect(throws: StoreError.conflict("contact \(id) is at version 2, not 1")) {
            _ = try await contacts.set(id: id, changes(["title": "CTO"]), ifVersion: 1, force: false, actor: nil)
        }
        try await contacts.delete(id: id, actor: nil)
        await #expect(throws: StoreError.notFound("no such contact")) { _ = try await contacts.get(id: id) }
        await #expect(throws: StoreError.notFound("no such contact")) { try await contacts.delete(id: id, actor: nil) }
    }

    @Test func emailAndExtAreUniqueCaseInsensitively() async throws {
        let contacts = database
        let first = try await contacts.add(changes(["email": "ada@example.com", "ext": "E1"]), actor: nil)
        await #expect(throws: InvalidField("email", "already used by contact \(first)")) {
            _ = try await contacts.add(changes(["email": "ADA@example.com"]), actor: nil)
        }
        await #expect(throws: InvalidField("ext", "already used by contact \(first)")) {
            _ = try await contacts.add(changes(["ext": "E1"]), actor: nil)
        }
        let page = try await contacts.find(FindQuery())
        #expect(page.records.count == 1, "a rejected write changed nothing")
    }

    @Test func upsertCreatesThenUpdatesByExt() async throws {
        let contacts = database
        let id = try await contacts.upsert(
            ext: "crm-1", changes(["lifecycle": "lead"]), ifVersion: nil, force: false, actor: nil)
        let again = try await contacts.upsert(
            ext: "crm-1", changes(["lifecycle": "customer"]), ifVersion: nil, force: false, actor: nil)
        #expect(id == again)
        let record = try await contacts.get(id: id)
        #expect(record["lifecycle"] == "customer")
        #expect(record.version == 2)
        await #expect(throws: InvalidField.self) {
            _ = try await contacts.upsert(
                ext: "crm-1", changes(["lifecycle": "lead"]), ifVersion: nil, force: false, actor: nil)
        }
    }

    @Test func findFiltersSearchesAndPagesWithoutGapsOrRepeats() async throws {
        let contacts = database
        for index in 1...57 {
            _ = try await contacts.add(
                changes([
                    "email": "p\(index)@example.com", "lifecycle": index.isMultiple(of: 3) ? "lead" : "customer",
                    "last_name": "Name\(index % 10)", "notes": index == 30 ? "met at the zebra conference" : "",
                ]), actor: nil)
        }
        var query = try FindQuery.parse(
            ["WHERE", "lifecycle", "=", "lead", "SORTBY", "last_name", "DESC", "LIMIT", "4"], schema: .contact)
        var seen: [Int64] = []
        while true {
            let page = try await contacts.find(query)
            seen += page.records.map(\.id)
            #expect(page.records.allSatisfy { $0["lifecycle"] == "lead" })
            guard let next = page.next else { break }
            query.after = next
        }
        #expect(seen.count == 19)
        #expect(Set(seen).count == 19)

        let search = try await contacts.find(FindQuery.parse(["SEARCH", "zebr"], schema: .contact))
        #expect(search.records.map { $0["email"] } == ["p30@example.com"])

        let prefix = try await contacts.find(
            FindQuery.parse(["WHERE", "email", "PREFIX", "p5", "LIMIT", "100"], schema: .contact))
        #expect(prefix.records.count == 9, "p5 and p50...p57")
    }

    @Test func everyChangeAppendsAnEventInTheSameTransaction() async throws {
        let contacts = database
        let id = try await contacts.add(changes(["email": "ev@example.com"]), actor: "k_actor")
        _ = try await contacts.set(id: id, changes(["title": "CEO"]), ifVersion: nil, force: false, actor: "k_actor")
        try await contacts.delete(id: id, actor: "k_actor")
        let events = try await database.read { try $0.events(after: 0, limit: 10, types: []) }
        #expect(events.map(\.type) == ["contact.created", "contact.updated", "contact.deleted"])
        #expect(events[1].fields == #"{"title":"CEO"}"#)
        #expect(events.allSatisfy { $0.recordID == id && $0.keyID == "k_actor" })
    }

    @Test func concurrentWritesShareCommits() async throws {
        let contacts = database
        let before = tenants.statistics.committedBatches
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<400 {
                group.addTask {
                    try await contacts.add(
                        RecordSchema.contact.validate([("email", "c\(index)@example.com")]), actor: nil)
                }
            }
            var ids = Set<Int64>()
            for try await id in group { ids.insert(id) }
            #expect(ids.count == 400)
        }
        let batches = tenants.statistics.committedBatches - before
        #expect(batches < 400, "400 concurrent writes took \(batches) commits")
        #expect(try await contacts.find(FindQuery.parse(["LIMIT", "1000"], schema: .contact)).records.count == 400)
    }

    @Test func theCommitCountersCountEachWriteOfAPipelinedBatch() async throws {
        let before = (tenants.statistics.committedBatches, tenants.statistics.committedWrites)
        let bodies: [@Sendable (TenantWriter) throws -> Int64] = try (0..<5).map { index in
            let contact = try changes(["email": "batch\(index)@example.com"])
            return { try $0.contacts.add(contact, actor: nil) }
        }
        let results = try await withCheckedThrowingContinuation { continuation in
            database.writeEach(bodies) { continuation.resume(with: $0) }
        }
        #expect(results.count == 5)
        #expect(tenants.statistics.committedBatches - before.0 == 1)
        #expect(tenants.statistics.committedWrites - before.1 == 5, "INFO's group_commit_writes counts writes")
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func aDurableWriteIsAnsweredOnlyAfterItsWALWasSynced()
        async throws
    {
        #expect(tenants.durability == .full)
        let before = tenants.walSyncs
        _ = try await database.add(changes(["email": "synced@example.com"]), actor: nil)
        #expect(tenants.walSyncs > before)
    }

    /// A batch commits while the one before waits for its sync; each is answered after its own
    /// sync, in commit order: writes are answered in the order of the ids their commits gave them.
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files"))
    func overlappingCommitsAreAnsweredInCommitOrderEachAfterASync() async throws {
        let answered = Mutex<[Int64]>([])
        let syncsBefore = tenants.walSyncs
        let fields = try changes(["lifecycle": "lead"])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Atomic<Int>(1500)
            for _ in 0..<1500 {
                database.write({ try $0.contacts.add(fields, actor: nil) }) { result in
                    if case .success(let id) = result { answered.withLock { $0.append(id) } }
                    if remaining.subtract(1, ordering: .relaxed).newValue == 0 { done.resume() }
                }
            }
        }
        let ids = answered.withLock { $0 }
        #expect(ids.count == 1500)
        #expect(ids == ids.sorted(), "answered out of commit order")
        let commits = try tenants.writeStatistics(of: TenantName("acme")).committedBatches
        #expect(commits >= 3, "512 writes at most to a commit")
        #expect(tenants.walSyncs - syncsBefore >= commits, "a sync for each commit at the least")
    }

    @Test func oneFailingWriteInABatchDoesNotUndoTheOthers() async throws {
        let contacts = database
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let email = index.isMultiple(of: 2) ? "same@example.com" : "u\(index)@example.com"
                    do {
                        _ = try await contacts.add(RecordSchema.contact.validate([("email", email)]), actor: nil)
                        return true
                    } catch is InvalidField {
                        return false
                    }
                }
            }
            var succeeded = 0
            for try await ok in group where ok { succeeded += 1 }
            #expect(succeeded == 51)
        }
        #expect(try await contacts.find(FindQuery.parse(["LIMIT", "1000"], schema: .contact)).records.count == 51)
    }

    /// A write that fails after changing rows is undone alone (its contact and
    /// its event gone, the batch's other writes kept): the batch runs again
    /// with a savepoint per write. One that fails before changing anything
    /// needs no savepoints: on SQLite, the batch runs once.
    @Test func aWriteFailingAfterItsChangesIsUndoneAloneInItsBatch() async throws {
        struct Refused: Error {}
        let runs = Atomic<Int>(0)
        let contact = { (email: String) in try self.changes(["email": email]) }
        func batch(_ name: String, failing: @escaping @Sendable (TenantWriter) throws -> Void) async throws -> [Result<
            Int64, any Error
        >] {
            let (kept, alsoKept) = (try contact("\(name)@example.com"), try contact("also-\(name)@example.com"))
            let bodies: [@Sendable (TenantWriter) throws -> Int64] = [
                {
                    runs.add(1, ordering: .relaxed)
                    return try $0.contacts.add(kept, actor: nil)
                },
                {
                    runs.add(1, ordering: .relaxed)
                    try failing($0)
                    return 0
                },
                {
                    runs.add(1, ordering: .relaxed)
                    return try $0.contacts.add(alsoKept, actor: nil)
                },
            ]
            return try await withCheckedThrowingContinuation { continuation in
                database.writeEach(bodies) { continuation.resume(with: $0) }
            }
        }
        let undone = try contact("undone@example.com")
        let afterChanges = try await batch("kept") { writer in
            _ = try writer.contacts.add(undone, actor: nil)
            throw Refused()
        }
        #expect(afterChanges.map { (try? $0.get()) != nil } == [true, false, true])
        #expect(throws: Refused.self) { try afterChanges[1].get() }
        let emails = try await database.find(FindQuery.parse(["LIMIT", "10"], schema: .contact)).records
            .compactMap { $0["email"] }
        #expect(Set(emails) == ["kept@example.com", "also-kept@example.com"])
        let created = try await database.read { try $0.events(after: 0, limit: 10, types: []) }
        #expect(created.count == 2, "the undone write's event went with it")
        // The first two writes, then all three again with savepoints.
        if !TestStorage.isPostgres {
            #expect(runs.load(ordering: .relaxed) == 5, "the batch ran again with savepoints")
        }

        runs.store(0, ordering: .relaxed)
        let beforeChanges = try await batch("second") { _ in throw Refused() }
        #expect(beforeChanges.map { (try? $0.get()) != nil } == [true, false, true])
        if !TestStorage.isPostgres { #expect(runs.load(ordering: .relaxed) == 3, "nothing to undo: one run") }
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func tenantDatabasesAreSeparateFiles() async throws {
        let other = try await tenants.acquire(TenantName("globex"))
        let id = try await database.add(changes(["email": "only-acme@example.com"]), actor: nil)
        await #expect(throws: StoreError.notFound("no such contact")) { _ = try await other.get(id: id) }
        #expect(FileManager.default.fileExists(atPath: directory.path + "/tenants/globex.sqlite"))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/tenants/acme.sqlite"))
    }
}

@Suite struct TenantDirectoryTests {
    @Test func concurrentSessionsShareOneHandleAndIdleOnesClose() async throws {
        let directory = try TemporaryDirectory()
        let tenants = try TenantDirectory(root: directory.path + "/tenants", maxOpen: 2)
        let acme = try TenantName("acme")
        let handles = try await withThrowingTaskGroup(of: TenantDatabase.self) { group in
            for _ in 0..<20 { group.addTask { try await tenants.acquire(acme) } }
            var handles: [TenantDatabase] = []
            for try await handle in group { handles.append(handle) }
            return handles
        }
        #expect(handles.allSatisfy { $0 === handles[0] })
        for handle in handles.dropFirst() { tenants.release(handle) }
        await tenants.closeIdle(olderThan: .zero)
        #expect(tenants.openCount == 1, "one lease is still held")
        tenants.release(handles[0])
        await tenants.closeIdle(olderThan: .zero)
        #expect(tenants.openCount == 0)

        for name in ["a", "b", "c", "d"] {
            tenants.release(try await tenants.acquire(TenantName(name)))
        }
        #expect(tenants.openCount <= 2, "the least recently used idle databases close past maxOpen")
    }
}
