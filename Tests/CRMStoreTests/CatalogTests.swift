import CRMCore
import CRMTestSupport
import Foundation
import Testing

@testable import CRMStore

@Suite struct CatalogTests {
    /// GRDB turns a pool's writer to `synchronous = NORMAL` as it enables WAL, after `prepareDatabase`.
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func everyCatalogCommitIsSynced() throws {
        let directory = try TemporaryDirectory()
        let catalog = try Catalog(directory: directory.path)
        #expect(try catalog.writerSynchronousLevel == 2)
    }

    @Test func authenticatesOnlyTheRightSecretOfALiveKey() async throws {
        let directory = try TemporaryDirectory()
        let (catalog, _) = try await TestStorage.open(in: directory)
        let acme = try TenantName("acme")
        try await catalog.createTenant(acme)
        let (key, secret) = try await catalog.createKey(tenant: acme, role: .agent, label: "desk")
        #expect(secret.count == 64)
        #expect(try await catalog.authenticate(keyID: key.id, secret: secret)?.role == .agent)
        #expect(try await catalog.authenticate(keyID: key.id, secret: secret + "x") == nil)
        #expect(try await catalog.authenticate(keyID: "k_unknown", secret: secret) == nil)

        try await catalog.setSuspended(acme, true)
        #expect(try await catalog.authenticate(keyID: key.id, secret: secret) == nil)
        try await catalog.setSuspended(acme, false)
        #expect(try await catalog.authenticate(keyID: key.id, secret: secret) != nil)

        try await catalog.revokeKey(id: key.id)
        #expect(try await catalog.authenticate(keyID: key.id, secret: secret) == nil)
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func storesOnlyADigestOfTheSecret() async throws {
        let directory = try TemporaryDirectory()
        let catalog = try Catalog(directory: directory.path)
        let (_, secret) = try await catalog.createBootstrapAdminKey()
        try catalog.close()
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/" + file))
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "secret found in \(file)")
        }
    }

    @Test func tenantsAreUniqueAndDropRemovesTheirKeys() async throws {
        let directory = try TemporaryDirectory()
        let (catalog, _) = try await TestStorage.open(in: directory)
        let acme = try TenantName("acme")
        try await catalog.createTenant(acme)
        await #expect(throws: StoreError.conflict("tenant acme already exists")) {
            try await catalog.createTenant(acme)
        }
        _ = try await catalog.createKey(tenant: acme, role: .owner, label: nil)
        #expect(try await catalog.tenant(acme)?.keyCount == 1)
        try await catalog.dropTenant(acme)
        #expect(try await catalog.keys(tenant: nil).isEmpty)
        await #expect(throws: StoreError.notFound("no such tenant")) {
            _ = try await catalog.createKey(tenant: acme, role: .owner, label: nil)
        }
    }
}
