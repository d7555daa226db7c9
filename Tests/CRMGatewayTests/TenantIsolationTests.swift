import CRMProtocol
import Foundation
import Testing

@Suite struct TenantIsolationTests {
    @Test func noContactCommandReachesAnotherTenantsData() async throws {
        let gateway = try await TestGateway.start()
        let acme = try await gateway.connect(tenant: "acme")
        let globex = try await gateway.connect(tenant: "globex")
        let id = try await acme.send(
            "CONTACT.ADD", "email", "secret@acme.example", "ext", "acme-1", "notes", "unicorn project")
        let acmeID = id.string!
        let before = try await acme.send("CONTACT.GET", acmeID)

        #expect(try await globex.send("CONTACT.GET", acmeID) == .error("NOTFOUND no such contact"))
        #expect(try await globex.send("CONTACT.SET", acmeID, "title", "x") == .error("NOTFOUND no such contact"))
        #expect(try await globex.send("CONTACT.DEL", acmeID) == .error("NOTFOUND no such contact"))
        for query in [
            ["WHERE", "email", "=", "secret@acme.example"], ["WHERE", "ext", "=", "acme-1"], ["SEARCH", "unicorn"],
            ["SEARCH", "secret"], [],
        ] {
            let page = try await globex.send(["CONTACT.FIND"] + query)
            #expect(page.elements?[1] == .array([]), "globex FIND \(query) saw acme data")
        }
        let upserted = try await globex.send("CONTACT.UPSERT", "acme-1", "email", "secret@acme.example")
        #expect(upserted == .integer(1), "the same ext and email are free in another tenant: its own first contact")
        #expect(try await acme.send("CONTACT.GET", acmeID) == before, "acme's contact is untouched")
        let globexPage = try await globex.send("CONTACT.FIND")
        #expect(globexPage.elements?[1].elements?.count == 1)
        #expect(FileManager.default.fileExists(atPath: gateway.directory.path + "/tenants/acme.sqlite"))
        #expect(FileManager.default.fileExists(atPath: gateway.directory.path + "/tenants/globex.sqlite"))
        await acme.close()
        await globex.close()
        await gateway.stop()
    }
}
