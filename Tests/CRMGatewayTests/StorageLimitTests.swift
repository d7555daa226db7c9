import CRMProtocol
import CRMTestSupport
import Testing

/// A tenant database that cannot grow (its size limit, as a full disk would)
/// answers `-LIMIT`, loses nothing it acknowledged, and takes writes again
/// once there is room.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct StorageLimitTests {
    @Test func aFullDatabaseRefusesWritesKeepsItsDataAndRecoversWhenThereIsRoom() async throws {
        let directory = try TemporaryDirectory()
        var gateway = try await TestGateway.start(directory: directory) { $0.maxTenantBytes = 1024 * 1024 }
        let key = try await gateway.createTenantKey("acme")
        var client = try await gateway.connect(keyID: key.id, secret: key.secret)
        let notes = String(repeating: "lorem ipsum ", count: 200)
        var acknowledged: [String] = []
        var refusal: RESPValue?
        for batch in 0..<100 where refusal == nil {
            let exts = (0..<20).map { "c-\(batch)-\($0)" }
            let replies = try await client.pipeline(
                exts.map { ["CONTACT.ADD", "email", "\($0)@example.com", "ext", $0, "notes", notes] })
            for (ext, reply) in zip(exts, replies) {
                if reply.errorMessage == nil {
                    acknowledged.append(ext)
                } else if refusal == nil {
                    refusal = reply
                }
            }
        }
        let error = try #require(refusal?.errorMessage, "1 MiB never filled up")
        #expect(error.hasPrefix("LIMIT the tenant's database is full"), "\(error)")
        #expect(acknowledged.count > 50)
        #expect(try await client.send("PING") == .simpleString("PONG"), "the connection stays usable")
        let stored = try await client.pipeline(acknowledged.map { ["CONTACT.GET", $0] })
        #expect(zip(acknowledged, stored).allSatisfy { $0.1.fields["ext"] == $0.0 }, "reads still work; nothing lost")
        let count = try await client.send("CONTACT.FIND", "LIMIT", "1000").elements?[1].elements?.count
        #expect(count == acknowledged.count, "refused writes left nothing behind")
        await client.close()
        await gateway.stop()

        // The operator makes room (a bigger limit, as freeing disk space would); writes go through again.
        gateway = try await TestGateway.start(directory: directory) { $0.maxTenantBytes = 8 * 1024 * 1024 }
        client = try await gateway.connect(keyID: key.id, secret: key.secret)
        #expect(try await client.send("CONTACT.ADD", "email", "after@example.com", "notes", notes).errorMessage == nil)
        let again = try await client.pipeline(acknowledged.map { ["CONTACT.GET", $0] })
        #expect(zip(acknowledged, again).allSatisfy { $0.1.fields["ext"] == $0.0 })
        await client.close()
        await gateway.stop()
    }
}
