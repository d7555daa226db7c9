import CRMTestSupport
import Foundation
import Testing

/// `crmgate migrate`: a tenant written on SQLite, copied into PostgreSQL and
/// verified, served from there with the same keys, ids and events.
@Suite(.enabled(if: TestStorage.isPostgres, "PostgreSQL")) struct MigrationTests {
    @Test func aSeededSQLiteTenantMovesUpVerifiedAndItsKeysKeepWorking() async throws {
        let source = try TemporaryDirectory()
        let sqlite = try await TestGateway.start(directory: source) { $0.storage = nil }
        let key = try await sqlite.createTenantKey("acme")
        let before = try await sqlite.connect(keyID: key.id, secret: key.secret)
        try await before.send("COMPANY.ADD", "name", "Initech", "ext", "erp-1", "stage", "partner")
        try await before.send("INV.SET", "erp-1", "SKU-1", "30")
        try await before.send("INV.RULE", "erp-1", "SKU-1", "MIN", "10", "MAX", "50")
        #expect(try await before.send("INV.ADJ", "erp-1", "SKU-1", "-25", "FEED", "wh", "SEQ", "3") == .integer(5))
        let added = try await before.pipeline(
            (1...200).map {
                ["CONTACT.ADD", "email", "c\($0)@example.com", "notes", "quarterly review", "x_tier", "gold"]
            })
        #expect(added.allSatisfy { $0.errorMessage == nil })
        #expect(try await before.send("CONTACT.DEL", "7") == .integer(1))
        let eventsBefore = try await before.send("EVENTS.READ", "COUNT", "1000").elements?.count ?? 0
        await before.close()
        await sqlite.stop()
        let files = try Self.fingerprint(source.path)

        let target = try TemporaryDirectory()
        let url = try #require(try await TestStorage.postgresURL(of: target))
        let arguments = ["migrate", "--from", source.path, "--to", "\(url)"]
        let (status, output) = try await ServerProcess.run(arguments)
        #expect(status == 0, "\(output)")
        #expect(output.contains("tenant acme: copied"), "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("   contacts ") && $0.contains(" 199 rows") }, "\(output)")
        #expect(lines.contains { $0.hasPrefix("catalog keys ") && $0.contains(" 2 rows") }, "admin's and acme's")
        #expect(lines.filter { $0.hasSuffix("verified") }.count == 18, "two catalog tables and 16 of the tenant's")
        let (again, rerun) = try await ServerProcess.run(arguments)
        #expect(again == 0 && rerun.contains("tenant acme: already copied by an earlier run"), "\(rerun)")
        #expect(try Self.fingerprint(source.path) == files, "the source is left as it was")

        // The operator keeps admin.key; the catalog in PostgreSQL holds its digest.
        try FileManager.default.copyItem(atPath: source.path + "/admin.key", toPath: target.path + "/admin.key")
        let postgres = try await TestGateway.start(directory: target)
        let after = try await postgres.connect(keyID: key.id, secret: key.secret)
        #expect(try await after.send("CONTACT.GET", "7") == .error("NOTFOUND no such contact"))
        #expect(try await after.send("CONTACT.GET", "8").fields["email"] == "c8@example.com")
        let search = try await after.send("CONTACT.FIND", "SEARCH", "quarterly", "LIMIT", "1000")
        #expect(search.elements?[1].elements?.count == 199)
        let gold = try await after.send("CONTACT.FIND", "WHERE", "x_tier", "=", "gold", "LIMIT", "1000")
        #expect(gold.elements?[1].elements?.count == 199)
        #expect(try await after.send("REORDER.LIST").elements?[1].elements?.count == 1)
        #expect(try await after.send("FEED.INFO", "wh").fields["last_seq"] == "3")
        #expect(try await after.send("CONTACT.ADD", "email", "new@example.com") == .integer(201), "ids go on")
        let events = try #require(try await after.send("EVENTS.READ", "COUNT", "1000").elements)
        #expect(events.count == eventsBefore + 1)
        #expect(events.last?.fields["seq"] == String(eventsBefore + 1), "event numbers go on without a gap")
        await after.close()
        await postgres.stop()
    }

    /// Each file of the data directory with its bytes' hash.
    private static func fingerprint(_ path: String) throws -> [String: Int] {
        var prints: [String: Int] = [:]
        let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".sqlite") || file.hasSuffix(".sqlite-wal") {
            prints[file] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + file)).hashValue
        }
        return prints
    }
}
