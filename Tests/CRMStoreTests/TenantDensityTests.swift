import CRMCore
import CRMStore
import CRMTestSupport
import Foundation
import GRDB
import Testing

/// Open tenants are cheap to hold: an idle one keeps only its writer's
/// descriptors (and SQLite's one deferred close); created tenants are copies of a migrated template.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct TenantDensityTests {
    /// Descriptors this process holds on `path` and its WAL and shared-memory files.
    private func descriptors(on path: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { entry in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")) ?? ""
            return target == path || target == path + "-wal" || target == path + "-shm"
        }.count
    }

    @Test func anIdleTenantGivesBackItsReadersAndCachesAndWarmsUpAgain() async throws {
        let acme = try await AcmeTenant()
        let database = acme.database
        let changes = try RecordSchema.contact.validate([("email", "idle@example.com")])
        let id = try await database.add(changes, actor: nil)
        #expect(try await database.get(id: id)["email"] == "idle@example.com")
        let busy = descriptors(on: acme.tenants.path(of: database.name))
        #expect(busy > 3, "a read opened a reader beside the writer (\(busy))")

        await acme.tenants.releaseIdle(olderThan: .zero)
        // Readers close once their current work is done.
        var idle = busy
        for _ in 0..<100 where idle > 3 {
            try await Task.sleep(for: .milliseconds(20))
            idle = descriptors(on: acme.tenants.path(of: database.name))
        }
        let held = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
        }.filter { $0.hasPrefix(acme.tenants.path(of: database.name)) }
        // The writer's database, WAL and shared memory, and SQLite's deferred closes: a closed
        // connection's database descriptor stays until the last connection on the file closes, since
        // closing it would drop the writer's POSIX locks (the next connection reuses it). The reader
        // left one; a background checkpoint's connection, if one ran (a commit more than a second after
        // the open, on a loaded machine), another.
        #expect(idle <= 5, "an idle open tenant keeps its writer's descriptors only: \(held)")
        #expect(held.filter { $0 == acme.tenants.path(of: database.name) }.count <= 3, "\(held)")
        #expect(held.filter { $0.hasSuffix("-wal") }.count == 1 && held.filter { $0.hasSuffix("-shm") }.count == 1)
        #expect(database.recordCache.count == 0, "its record cache is empty")
        #expect(try await database.get(id: id)["email"] == "idle@example.com", "the next read works as before")
    }

    @Test func aNewTenantIsWrittenFromTheTemplateAtItsFirstUseAndALeftoverIsDiscarded() async throws {
        let directory = try TemporaryDirectory()
        let tenants = try TenantDirectory(root: directory.path + "/tenants")
        let names = try (0..<20).map { try TenantName("t\($0)") }
        for name in names { try tenants.discardLeftovers(of: name) }
        var files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tenants")
        #expect(!files.contains { $0.hasPrefix("t") }, "creating a tenant writes no database yet: \(files)")
        #expect(files.contains { $0.hasPrefix(".template-v") })
        let database = try await tenants.acquire(names[7])
        let changes = try RecordSchema.contact.validate([("email", "copy@example.com")])
        #expect(try await database.add(changes, actor: nil) == 1)
        tenants.release(database)
        files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tenants")
        #expect(files.contains("t7.sqlite") && files.filter { $0.hasSuffix(".creating") }.isEmpty)
        // A dropped tenant's files left behind (a crash between its catalog row and its files)
        // are gone when a tenant of that name is created again: it starts empty.
        await tenants.closeIdle(olderThan: .zero)
        try tenants.discardLeftovers(of: names[7])
        let again = try await tenants.acquire(names[7])
        #expect(try await again.find(FindQuery.parse([], schema: .contact)).records.isEmpty)
        tenants.release(again)
        // Leftovers of an interrupted create are cleared when the directory opens again.
        #expect(
            FileManager.default.createFile(
                atPath: directory.path + "/tenants/t99.sqlite.creating", contents: Data([1, 2])))
        _ = try TenantDirectory(root: directory.path + "/tenants")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/tenants/t99.sqlite.creating"))
    }
}

extension TenantDensityTests {
    /// A tenant's close copies nothing into its database file: the WAL stays,
    /// and the next open reads the commits back from it.
    @Test func aClosedTenantKeepsItsCommitsInItsWALAndReopensWithThem() async throws {
        // The background checkpointer copies a commit that came over a second after the open (a
        // loaded machine): then the file holds it, close or not. Three tenants make that unlikely
        // for all three; a close that checkpointed would leave it in every file.
        var lackingFiles = 0
        for attempt in 0..<3 {
            let directory = try TemporaryDirectory()
            let tenants = try TenantDirectory(root: directory.path + "/tenants")
            let name = try TenantName("quiet\(attempt)")
            let database = try await tenants.acquire(name)
            let changes = try RecordSchema.contact.validate([("email", "kept@example.com")])
            let id = try await database.add(changes, actor: nil)
            tenants.release(database)
            await tenants.closeIdle(olderThan: .zero)

            // The database file alone, as a close that checkpointed would have left it.
            let alone = directory.path + "/alone.sqlite"
            try FileManager.default.copyItem(atPath: tenants.path(of: name), toPath: alone)
            let inFile = try await DatabaseQueue(path: alone).read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM contacts")
            }
            if inFile == 0 { lackingFiles += 1 }

            let reopened = try await tenants.acquire(name)
            #expect(try await reopened.get(id: id)["email"] == "kept@example.com", "the reopen reads it from the WAL")
            tenants.release(reopened)
        }
        #expect(lackingFiles > 0, "the close ran no checkpoint")
    }
}
