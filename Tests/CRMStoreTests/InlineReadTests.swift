import CRMCore
import CRMTestSupport
import GRDB
import NIOEmbedded
import Testing

@testable import CRMStore

/// Quick reads run on the calling thread, on the lane's own read-only
/// connection; a read that is not quick is handed back to run on a reader.
/// The lane is an event loop whose queued work runs only when the test says.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct InlineReadTests {
    private typealias Lane = NIOAsyncTestingEventLoop

    let acme: AcmeTenant
    var database: TenantDatabase { acme.database }

    init() async throws {
        acme = try await AcmeTenant()
    }

    private static func contact(_ index: Int) throws -> FieldChanges {
        try RecordSchema.contact.validate([("email", "c\(index)@example.com"), ("lifecycle", "lead")])
    }

    /// `readHere` on the lane's thread, as the gateway calls it.
    private func readHere<T: Sendable>(
        _ lane: Lane, _ body: @escaping @Sendable (TenantReader) throws -> T
    ) async throws -> Result<T, any Error>? {
        let database = database
        return try await lane.executeInContext { database.readHere(lane: lane, body) }
    }

    /// `readHere` once the lane's connection, opened in the background, is there.
    private func readHereOnceOpen<T: Sendable>(
        _ lane: Lane, _ body: @escaping @Sendable (TenantReader) throws -> T
    ) async throws -> Result<T, any Error> {
        for _ in 0..<1000 {
            if let result = try await readHere(lane, body) { return result }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw StoreError.notFound("the lane's connection never opened")
    }

    @Test func aPointReadRunsHereOnceTheLanesConnectionIsOpenAndSeesEachCommit() async throws {
        let lane = Lane()
        let id = try await database.add(Self.contact(1), actor: nil)
        // The connection opens in the background: the first read is handed back.
        #expect(try await readHere(lane) { try $0.contacts.get(.id(id)) } == nil)
        let first = try await readHereOnceOpen(lane) { try $0.contacts.get(.id(id)) }.get()
        #expect(first["email"] == "c1@example.com")

        _ = try await database.set(
            id: id, RecordSchema.contact.validate([("title", "CFO")]), ifVersion: nil, force: false, actor: nil)
        let changed = try #require(try await readHere(lane) { try $0.contacts.get(.id(id)) })
        #expect(try changed.get()["title"] == "CFO", "a commit ends the snapshot the turn's reads shared")

        let missing = try #require(try await readHere(lane) { try $0.contacts.get(.id(999)) })
        #expect(throws: StoreError.self) { try missing.get() }
        await lane.shutdownGracefully()
    }

    @Test func aReadPastItsStepBudgetIsHandedBackAndLeavesTheConnectionReady() async throws {
        let lane = Lane()
        try await database.write { transaction in
            for index in 0..<3000 { _ = try transaction.contacts.add(Self.contact(index), actor: nil) }
        }
        let byIndex = try FindQuery.parse(["WHERE", "lifecycle", "=", "lead", "LIMIT", "10"], schema: .contact)
        #expect(try await readHereOnceOpen(lane) { try $0.contacts.find(byIndex) }.get().records.count == 10)

        // A page of a thousand records takes about 26,000 VM steps, past the budget.
        let large = try FindQuery.parse(["WHERE", "lifecycle", "=", "lead", "LIMIT", "1000"], schema: .contact)
        #expect(try await readHere(lane) { try $0.contacts.find(large) } == nil)
        #expect(try await database.find(large).records.count == 1000, "the same read on a reader thread")

        let again = try #require(try await readHere(lane) { try $0.contacts.find(byIndex) })
        #expect(try again.get().records.count == 10, "the stopped read left no transaction open")
        await lane.shutdownGracefully()
    }

    @Test func theReadsOfATurnShareOneSnapshotThatEndsOnceTheTurnsWorkRan() async throws {
        let lane = Lane()
        let id = try await database.add(Self.contact(1), actor: nil)
        _ = try await readHereOnceOpen(lane) { try $0.contacts.get(.id(id)) }
        // A change behind the tenant's writer: its count of commits stays, so only a new snapshot shows it.
        let other = try DatabaseQueue(path: acme.tenants.path(of: TenantName("acme")))
        try await other.write { try $0.execute(sql: "UPDATE contacts SET title = 'CFO' WHERE id = ?", arguments: [id]) }
        let sameTurn = try #require(try await readHere(lane) { try $0.contacts.get(.id(id)) })
        #expect(try sameTurn.get()["title"] == nil, "the turn's reads share its first read's snapshot")
        await lane.run()
        let nextTurn = try #require(try await readHere(lane) { try $0.contacts.get(.id(id)) })
        #expect(try nextTurn.get()["title"] == "CFO", "which ended with the turn")
        try other.close()
        await lane.shutdownGracefully()
    }

    @Test func closingTheTenantClosesItsLanesConnections() async throws {
        let lane = Lane()
        _ = try await readHereOnceOpen(lane) { _ in 1 }
        await acme.tenants.closeAll()
        #expect(try await readHere(lane) { _ in 1 } == nil)
        await lane.shutdownGracefully()
    }
}
