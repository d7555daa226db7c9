import CRMCore
import CRMTestSupport
import Testing

@testable import CRMStore

/// Quick reads run on the calling thread, on the lane's own read-only
/// connection; a read that is not quick is handed back to run on a reader.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct InlineReadTests {
    /// Stands for an event loop: a lane is an object's identity.
    private final class Lane {}

    let acme: AcmeTenant
    var database: TenantDatabase { acme.database }

    init() async throws {
        acme = try await AcmeTenant()
    }

    private static func contact(_ index: Int) throws -> FieldChanges {
        try RecordSchema.contact.validate([("email", "c\(index)@example.com"), ("lifecycle", "lead")])
    }

    /// `readHere` once the lane's connection, opened in the background, is there.
    private func readHereOnceOpen<T>(_ lane: Lane, _ body: (TenantReader) throws -> T) async throws -> Result<
        T, any Error
    > {
        for _ in 0..<1000 {
            if let result = database.readHere(lane: ObjectIdentifier(lane), body) { return result }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw StoreError.notFound("the lane's connection never opened")
    }

    @Test func aPointReadRunsHereOnceTheLanesConnectionIsOpenAndSeesEachCommit() async throws {
        let lane = Lane()
        let id = try await database.add(Self.contact(1), actor: nil)
        // The connection opens in the background: the first read is handed back.
        #expect(database.readHere(lane: ObjectIdentifier(lane)) { try $0.contacts.get(.id(id)) } == nil)
        let first = try await readHereOnceOpen(lane) { try $0.contacts.get(.id(id)) }.get()
        #expect(first["email"] == "c1@example.com")

        _ = try await database.set(
            id: id, RecordSchema.contact.validate([("title", "CFO")]), ifVersion: nil, force: false, actor: nil)
        let changed = try #require(database.readHere(lane: ObjectIdentifier(lane)) { try $0.contacts.get(.id(id)) })
        #expect(try changed.get()["title"] == "CFO", "each read is a snapshot taken now")

        let missing = try #require(database.readHere(lane: ObjectIdentifier(lane)) { try $0.contacts.get(.id(999)) })
        #expect(throws: StoreError.self) { try missing.get() }
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
        #expect(database.readHere(lane: ObjectIdentifier(lane)) { try $0.contacts.find(large) } == nil)
        #expect(try await database.find(large).records.count == 1000, "the same read on a reader thread")

        let again = try #require(database.readHere(lane: ObjectIdentifier(lane)) { try $0.contacts.find(byIndex) })
        #expect(try again.get().records.count == 10, "the stopped read left no transaction open")
    }

    @Test func closingTheTenantClosesItsLanesConnections() async throws {
        let lane = Lane()
        _ = try await readHereOnceOpen(lane) { _ in 1 }
        await acme.tenants.closeAll()
        #expect(database.readHere(lane: ObjectIdentifier(lane)) { _ in 1 } == nil)
    }
}
