import CRMProtocol
import CRMTestSupport
import Testing

@Suite struct RestartTests {
    @Test func everyAcknowledgedContactSurvivesARestart() async throws {
        let directory = try TemporaryDirectory()
        var gateway = try await TestGateway.start(directory: directory)
        let key = try await gateway.createTenantKey("acme")
        var client = try await gateway.connect(keyID: key.id, secret: key.secret)
        let replies = try await client.pipeline((0..<200).map { ["CONTACT.ADD", "email", "r\($0)@example.com"] })
        let ids = replies.compactMap { reply -> String? in
            if case .integer(let id) = reply { return String(id) }
            return nil
        }
        #expect(ids.count == 200)
        await client.close()
        await gateway.stop()

        gateway = try await TestGateway.start(directory: directory)
        client = try await gateway.connect(keyID: key.id, secret: key.secret)
        let fetched = try await client.pipeline(ids.map { ["CONTACT.GET", $0] })
        for (index, record) in fetched.enumerated() {
            #expect(record.fields["email"] == "r\(index)@example.com")
        }
        await client.close()
        await gateway.stop()
    }
}
