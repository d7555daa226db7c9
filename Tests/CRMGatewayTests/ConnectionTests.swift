import CRMProtocol
import NIOCore
import Testing

@testable import CRMGateway

@Suite struct ConnectionTests {
    @Test func onlyConnectionCommandsAnswerBeforeAuth() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect()
        #expect(try await client.send("PING") == .simpleString("PONG"))
        #expect(try await client.send("PING", "hi") == .bulk("hi"))
        #expect(try await client.send("COMMAND", "COUNT") == .integer(CommandTable.standard.topLevel.count))
        for command in [["CONTACT.GET", "1"], ["ECHO", "x"], ["TENANT.LIST"], ["CLIENT", "ID"], ["INFO"], ["RESET"]] {
            #expect(try await client.send(command) == .error("NOAUTH Authentication required."))
        }
        #expect(try await client.send("AUTH", gateway.adminKeyID, "wrong").errorMessage?.hasPrefix("WRONGPASS") == true)
        #expect(try await client.send("AUTH", gateway.adminKeyID, gateway.adminSecret) == .ok)
        #expect(try await client.send("ECHO", "x") == .bulk("x"))
        await client.close()
        await gateway.stop()
    }

    @Test func unknownCommandsAndWrongArityKeepTheConnection() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connectAsAdmin()
        #expect(
            try await client.send("NOPE", "a")
                == .error("ERR unknown command 'NOPE', with args beginning with: 'a'"))
        #expect(try await client.send("ECHO") == .error("ERR wrong number of arguments for 'echo' command"))
        #expect(try await client.send("CLIENT", "BOGUS").errorMessage?.hasPrefix("ERR unknown subcommand") == true)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        await client.close()
        await gateway.stop()
    }

    @Test func protocolErrorAnswersThenCloses() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect()
        try await client.write(raw: ByteBuffer(string: "PING\r\n*1\r\n$-7\r\n"))
        #expect(try await client.read() == .simpleString("PONG"))
        #expect(try await client.read() == .error("ERR Protocol error: invalid bulk length"))
        #expect(await client.isClosedByServer())
        let other = try await gateway.connect()
        #expect(try await other.send("PING") == .simpleString("PONG"), "the server still serves others")
        await other.close()
        await gateway.stop()
    }

    @Test func helloSwitchesToRESP3AndRecordsBecomeMaps() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let client = try await gateway.connect()
        #expect(try await client.send("HELLO", "3").errorMessage?.hasPrefix("NOAUTH HELLO must be called") == true)
        #expect(try await client.send("HELLO", "4") == .error("NOPROTO unsupported protocol version"))
        let hello = try await client.send("HELLO", "3", "AUTH", key.id, key.secret, "SETNAME", "erp-1")
        guard case .map = hello else {
            Issue.record("HELLO 3 did not answer a map: \(hello)")
            return
        }
        #expect(hello.fields["proto"] == "3")
        #expect(hello.fields["server"] == "crmgate")
        #expect(try await client.send("CLIENT", "GETNAME") == .bulk("erp-1"))
        let id = try await client.send("CONTACT.ADD", "email", "ada@example.com")
        let record = try await client.send("CONTACT.GET", id.string!)
        guard case .map = record else {
            Issue.record("RESP3 record is not a map: \(record)")
            return
        }
        #expect(record.fields["email"] == "ada@example.com")
        #expect(try await client.send("RESET") == .simpleString("RESET"))
        #expect(try await client.send("CONTACT.GET", id.string!) == .error("NOAUTH Authentication required."))
        await client.close()
        await gateway.stop()
    }

    @Test func quitRepliesThenCloses() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect()
        #expect(try await client.send("QUIT") == .ok)
        #expect(await client.isClosedByServer())
        await gateway.stop()
    }

    @Test func clientCommandsDescribeConnectionsWithoutSecrets() async throws {
        let gateway = try await TestGateway.start()
        let admin = try await gateway.connectAsAdmin()
        let tenant = try await gateway.connect(tenant: "acme")
        #expect(try await tenant.send("CLIENT", "SETNAME", "bad name").errorMessage?.hasPrefix("ERR") == true)
        #expect(try await tenant.send("CLIENT", "SETNAME", "desk") == .ok)
        let tenantID = try await tenant.send("CLIENT", "ID")
        let all = try await admin.send("CLIENT", "LIST").string!
        #expect(all.contains("id=\(tenantID.string!) ") && all.contains("name=desk") && all.contains("tenant=acme"))
        #expect(!all.contains(gateway.adminSecret))
        let own = try await tenant.send("CLIENT", "LIST").string!
        #expect(own.split(separator: "\n").count == 1, "a tenant key sees only its tenant's connections")
        #expect(try await admin.send("CLIENT", "KILL", "ID", tenantID.string!) == .integer(1))
        #expect(await tenant.isClosedByServer())
        await admin.close()
        await gateway.stop()
    }

    @Test func maxClientsRefusesTheExtraConnectionAndStaysUp() async throws {
        let gateway = try await TestGateway.start { $0.maxClients = 2 }
        let first = try await gateway.connect()
        let second = try await gateway.connect()
        #expect(try await second.send("PING") == .simpleString("PONG"))
        let third = try await gateway.connect()
        #expect(try await third.read() == .error("ERR max number of clients reached"))
        #expect(await third.isClosedByServer())
        #expect(try await first.send("PING") == .simpleString("PONG"))
        await first.close()
        await second.close()
        await gateway.stop()
    }

    @Test func infoReportsSections() async throws {
        let gateway = try await TestGateway.start()
        let admin = try await gateway.connectAsAdmin()
        let info = try await admin.send("INFO").string!
        for section in ["# Server", "# Clients", "# Stats", "# Persistence"] {
            #expect(info.contains(section))
        }
        #expect(info.contains("tcp_port:\(gateway.port)"))
        let stats = try await admin.send("INFO", "stats").string!
        #expect(stats.contains("total_commands_processed:") && !stats.contains("# Server"))
        await admin.close()
        await gateway.stop()
    }

    @Test func shutdownAnswersTheCommandInFlightAndNothingQueuedBehindIt() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        var request = ByteBuffer()
        request.writeRESPCommand(["EVENTS.READ", "BLOCK", "5000"])
        request.writeRESPCommand(["PING"])
        try await client.write(raw: request)
        let admin = try await gateway.connectAsAdmin()
        var blocked = false
        for _ in 0..<500 where !blocked {
            blocked = (try await admin.send("INFO", "clients").string ?? "").contains("blocked_clients:1")
            if !blocked { try await Task.sleep(for: .milliseconds(20)) }
        }
        try #require(blocked, "the blocking read is in flight")
        // What shutdown does to each connection, before it closes the listeners and databases.
        let closed = gateway.server.services.clients.closeAllGracefully()
        #expect(try await client.read() == .null, "the blocking read in flight is answered")
        for future in closed { try? await future.get() }
        #expect((try? await client.read()) == nil, "the PING queued behind it is not")
        await gateway.stop()
    }
}
