import CRMProtocol
import Testing

/// MULTI / EXEC / DISCARD: one SQLite transaction, all or nothing.
@Suite struct TransactionTests {
    @Test func queuedCommandsRunTogetherAndSeeEachOthersWrites() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        #expect(try await client.send("MULTI") == .ok)
        #expect(try await client.send("COMPANY.ADD", "name", "Initech") == .simpleString("QUEUED"))
        #expect(
            try await client.send("CONTACT.ADD", "email", "p@initech.example", "company", "1")
                == .simpleString("QUEUED"))
        #expect(try await client.send("CONTACT.GET", "1") == .simpleString("QUEUED"))
        #expect(try await client.send("PING") == .simpleString("QUEUED"))
        let replies = try await client.send("EXEC").elements ?? []
        #expect(replies.count == 4)
        #expect(replies[0] == .integer(1))
        #expect(replies[1] == .integer(1))
        #expect(replies[2].fields["company"] == "1", "a read inside EXEC sees the block's own writes")
        #expect(replies[3] == .simpleString("PONG"))
        #expect(try await client.send("MULTI") == .ok)
        #expect(try await client.send("EXEC") == .array([]))
        await client.close()
        await gateway.stop()
    }

    @Test func aFailingCommandRollsBackTheWholeBlock() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("CONTACT.ADD", "email", "taken@example.com")
        try await client.send("MULTI")
        try await client.send("COMPANY.ADD", "name", "Initech")
        try await client.send("CONTACT.SET", "1", "title", "CEO")
        try await client.send("CONTACT.ADD", "email", "taken@example.com")
        try await client.send("DEAL.ADD", "title", "never")
        let replies = try await client.send("EXEC")
        #expect(
            replies
                == .array([
                    .error(
                        "EXECABORT rolled back because command 3 (CONTACT.ADD) failed: INVALID email: already used by contact 1"
                    ),
                    .error(
                        "EXECABORT rolled back because command 3 (CONTACT.ADD) failed: INVALID email: already used by contact 1"
                    ),
                    .error("INVALID email: already used by contact 1"),
                    .error(
                        "EXECABORT rolled back because command 3 (CONTACT.ADD) failed: INVALID email: already used by contact 1"
                    ),
                ]))
        #expect(try await client.send("COMPANY.GET", "1") == .error("NOTFOUND no such company"))
        #expect(try await client.send("CONTACT.GET", "1").fields["title"] == nil)
        #expect(try await client.send("CONTACT.GET", "1").fields["version"] == "1")
        #expect(try await client.send("DEAL.FIND").elements?[1] == .array([]))
        try await client.send("MULTI")
        try await client.send("CONTACT.SET", "1", "title", "CEO", "IFVERSION", "7")
        #expect(
            try await client.send("EXEC")
                == .array([.error("CONFLICT contact 1 is at version 1, not 7")]))
        await client.close()
        await gateway.stop()
    }

    @Test func errorsWhileQueueingDiscardTheBlockAsRedisDoes() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("MULTI")
        try await client.send("COMPANY.ADD", "name", "Initech")
        #expect(
            try await client.send("COMPANY.NOPE")
                == .error("ERR unknown command 'COMPANY.NOPE', with args beginning with: "))
        #expect(try await client.send("MULTI") == .error("ERR MULTI calls can not be nested"))
        #expect(try await client.send("EXEC") == .error("EXECABORT Transaction discarded because of previous errors."))
        #expect(try await client.send("COMPANY.GET", "1") == .error("NOTFOUND no such company"))

        try await client.send("MULTI")
        #expect(try await client.send("KEY.LIST") == .error("ERR KEY.LIST is not allowed inside MULTI"))
        #expect(try await client.send("DISCARD") == .ok)
        #expect(try await client.send("EXEC") == .error("ERR EXEC without MULTI"))
        #expect(try await client.send("DISCARD") == .error("ERR DISCARD without MULTI"))

        try await client.send("MULTI")
        try await client.send("COMPANY.ADD", "name", "Initech")
        #expect(try await client.send("DISCARD") == .ok)
        #expect(try await client.send("COMPANY.FIND").elements?[1] == .array([]))

        try await client.send("MULTI")
        try await client.send("COMPANY.ADD", "name", "Initech")
        #expect(try await client.send("RESET") == .simpleString("RESET"), "RESET acts at once and drops the queue")
        #expect(try await client.send("EXEC") == .error("NOAUTH Authentication required."))
        await client.close()
        await gateway.stop()
    }

    @Test func aBlockPipelinedInOneWriteAnswersInOrder() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let replies = try await client.pipeline(
            [["CONTACT.ADD", "email", "a@example.com"], ["MULTI"]]
                + (1...50).map { ["CONTACT.ADD", "email", "b\($0)@example.com"] } + [
                    ["EXEC"], ["CONTACT.FIND", "LIMIT", "100"],
                ])
        #expect(replies[0] == .integer(1))
        #expect(replies[2...51].allSatisfy { $0 == .simpleString("QUEUED") })
        #expect(replies[52] == .array((2...51).map { .integer($0) }))
        #expect(replies[53].elements?[1].elements?.count == 51)
        await client.close()
        await gateway.stop()
    }

    /// WATCH belongs to the tenant it was made in: authenticating as another tenant forgets it.
    @Test func watchesDoNotFollowAConnectionToAnotherTenant() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("CONTACT.ADD", "email", "watched@acme.example")
        #expect(try await client.send("WATCH", "contact:1") == .ok)
        let globex = try await gateway.createTenantKey("globex")
        #expect(try await client.send("AUTH", globex.id, globex.secret) == .ok)
        #expect(try await client.send("MULTI") == .ok)
        try await client.send("CONTACT.ADD", "email", "g@globex.example")
        #expect(try await client.send("EXEC") == .array([.integer(1)]), "acme's watch does not judge globex's EXEC")
        await client.close()
        await gateway.stop()
    }
}
