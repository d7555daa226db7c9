import CRMCore
import CRMProtocol
import Foundation
import Testing

/// Isolation and roles, driven by `Protocols/commands.json`: every command that
/// takes an identifier is tried by another tenant with the first tenant's
/// identifiers, and every role is tried against every command.
@Suite struct IsolationSuiteTests {
    /// Argument names that identify something owned by a tenant.
    static let identifierArguments: Set<String> = [
        "id", "id-or-ext", "ext", "company", "sku", "key-id", "client-id", "tenant",
    ]

    /// What another tenant's session may get back for the first tenant's identifiers.
    enum Expectation {
        /// `-NOTFOUND …`, as for an identifier that exists nowhere.
        case notFound
        /// Exactly the reply the same command gives for identifiers that exist nowhere.
        case sameAsUnknown([String])
        /// Upserts by ext: the other tenant gets a record of its own; the first is untouched.
        case ownRecord
    }

    struct Probe {
        var arguments: [String]
        var expectation = Expectation.notFound
    }

    /// The identifiers of tenant acme's records, made by ``seedAcme``.
    struct AcmeIdentifiers {
        var keyID: String
        var clientID: String
    }

    /// One entry per command that takes an identifier. A command added to the
    /// table with such an argument and no entry here fails ``everyIdentifierCommandHasProbes``.
    static func probes(_ acme: AcmeIdentifiers) -> [String: [Probe]] {
        [
            "AUTH": [
                Probe(arguments: [acme.keyID, "wrong"], expectation: .sameAsUnknown(["k_000000000000", "wrong"]))
            ],
            "HELLO": [
                Probe(
                    arguments: ["3", "AUTH", acme.keyID, "wrong"],
                    expectation: .sameAsUnknown(["3", "AUTH", "k_000000000000", "wrong"]))
            ],
            "CLIENT KILL": [Probe(arguments: ["ID", acme.clientID], expectation: .sameAsUnknown(["ID", "999999"]))],
            "CLIENT LIST": [Probe(arguments: ["ID", acme.clientID], expectation: .sameAsUnknown(["ID", "999999"]))],
            "KEY.CREATE": [
                Probe(arguments: ["acme", "agent"], expectation: .sameAsUnknown(["nosuchtenant", "agent"]))
            ],
            "KEY.LIST": [Probe(arguments: ["acme"], expectation: .sameAsUnknown(["nosuchtenant"]))],
            "KEY.REVOKE": [Probe(arguments: [acme.keyID])],
            "CONTACT.GET": [Probe(arguments: ["1"]), Probe(arguments: ["acme-contact"])],
            "CONTACT.SET": [Probe(arguments: ["1", "title", "x"])],
            "CONTACT.UPSERT": [Probe(arguments: ["acme-contact", "title", "x"], expectation: .ownRecord)],
            "CONTACT.DEL": [Probe(arguments: ["1"])],
            "CONTACT.CONSENT": [Probe(arguments: ["1", "email", "out"])],
            "CONTACT.REACHABLE": [Probe(arguments: ["1", "email"])],
            "CONTACT.EXPORT": [Probe(arguments: ["1"])],
            "CONTACT.FORGET": [Probe(arguments: ["1", "CONFIRM", "1"])],
            "COMPANY.GET": [Probe(arguments: ["1"]), Probe(arguments: ["acme-co"])],
            "COMPANY.SET": [Probe(arguments: ["1", "name", "x"])],
            "COMPANY.UPSERT": [Probe(arguments: ["acme-co", "name", "Globex own"], expectation: .ownRecord)],
            "COMPANY.DEL": [Probe(arguments: ["1"])],
            "COMPANY.STAGE": [Probe(arguments: ["1", "transition", "REASON", "x"])],
            "COMPANY.HISTORY": [Probe(arguments: ["1"])],
            "COMPANY.SUGGEST": [Probe(arguments: ["1"])],
            "DEAL.GET": [Probe(arguments: ["1"]), Probe(arguments: ["acme-deal"])],
            "DEAL.SET": [Probe(arguments: ["1", "title", "x"])],
            "DEAL.UPSERT": [Probe(arguments: ["acme-deal", "title", "Globex deal"], expectation: .ownRecord)],
            "DEAL.DEL": [Probe(arguments: ["1"])],
            "DEAL.MOVE": [Probe(arguments: ["2", "proposal"])],
            "DEAL.WIN": [Probe(arguments: ["2"])],
            "DEAL.LOSE": [Probe(arguments: ["2", "REASON", "x"])],
            "TICKET.GET": [Probe(arguments: ["1"])],
            "TICKET.SET": [Probe(arguments: ["1", "body", "x"])],
            "TICKET.DEL": [Probe(arguments: ["1"])],
            "TICKET.STATUS": [Probe(arguments: ["1", "open"])],
            "ACTIVITY.ADD": ["contact", "company", "deal", "ticket"].map { Probe(arguments: ["note", "ON", $0, "1"]) },
            "TIMELINE": ["contact", "company", "deal", "ticket"].map { Probe(arguments: [$0, "1"]) },
            "INV.RULE": [
                Probe(arguments: ["acme-co", "SKU-1", "MIN", "1", "MAX", "2"]),
                Probe(arguments: ["1", "SKU-1", "MIN", "1", "MAX", "2"]),
            ],
            "INV.SET": [Probe(arguments: ["acme-co", "SKU-1", "5"])],
            "INV.ADJ": [Probe(arguments: ["acme-co", "SKU-1", "-1"]), Probe(arguments: ["1", "SKU-1", "-1"])],
            "INV.GET": [Probe(arguments: ["acme-co", "SKU-1"]), Probe(arguments: ["1", "SKU-1"])],
            "INV.LIST": [Probe(arguments: ["acme-co"])],
            "INV.PRICE": [Probe(arguments: ["acme-co", "SKU-1", "5", "EUR"])],
            "REORDER.LIST": [Probe(arguments: ["COMPANY", "acme-co"])],
            "REORDER.GET": [Probe(arguments: ["1"])],
            "REORDER.CONFIRM": [Probe(arguments: ["1"])],
            "REORDER.RECEIVE": [Probe(arguments: ["1"])],
            "REORDER.CANCEL": [Probe(arguments: ["1", "REASON", "x"])],
        ]
    }

    /// Commands of the table that take an identifier and that a tenant's key may run.
    static var identifierCommands: Set<String> {
        func names(_ arguments: [CommandArgument]) -> [String] {
            arguments.flatMap { [$0.name] + names($0.arguments ?? []) }
        }
        let tenantRoles = Set(Role.allCases).subtracting([.admin])
        return Set(
            CommandTable.standard.commands.filter { spec in
                !Set(spec.roles).isDisjoint(with: tenantRoles)
                    && !identifierArguments.isDisjoint(with: names(spec.arguments))
            }.map(\.name))
    }

    @Test func everyIdentifierCommandHasProbes() {
        let probed = Set(Self.probes(AcmeIdentifiers(keyID: "k", clientID: "1")).keys)
        #expect(Self.identifierCommands.subtracting(probed).sorted() == [], "commands without isolation probes")
        #expect(probed.subtracting(Self.identifierCommands).sorted() == [], "probes for commands not in the table")
    }

    @Test func anotherTenantGetsNotFoundForEveryIdentifier() async throws {
        let gateway = try await TestGateway.start { $0.authFailuresBeforeThrottle = .max }
        let acmeKey = try await gateway.createTenantKey("acme")
        let acme = try await gateway.connect(keyID: acmeKey.id, secret: acmeKey.secret)
        try await Self.seedAcme(acme)
        let acmeClientID = try #require(try await acme.send("CLIENT", "ID").string)
        let snapshot = try await Self.snapshot(acme)
        let globex = try await gateway.connect(tenant: "globex")

        let identifiers = AcmeIdentifiers(keyID: acmeKey.id, clientID: acmeClientID)
        var tried = 0
        // Upserts go last: they give globex records of its own under acme's exts.
        let all = Self.probes(identifiers).sorted { $0.key < $1.key }.flatMap { command, probes in
            probes.map { (command: command, probe: $0) }
        }
        let upserts = all.filter { if case .ownRecord = $0.probe.expectation { true } else { false } }
        let others = all.filter { if case .ownRecord = $0.probe.expectation { false } else { true } }
        for (command, probe) in others + upserts {
            let words = command.split(separator: " ").map(String.init)
            let reply = try await globex.send(words + probe.arguments)
            tried += 1
            let what = "\(command) \(probe.arguments): \(reply)"
            switch probe.expectation {
            case .notFound:
                #expect(reply.errorMessage?.hasPrefix("NOTFOUND ") == true, "\(what)")
            case .sameAsUnknown(let unknown):
                let unknownReply = try await globex.send(words + unknown)
                #expect(reply == unknownReply, "\(command) tells acme's identifier from an unknown one")
            case .ownRecord:
                #expect(reply.errorMessage == nil && Int(reply.string ?? "") != nil, "\(what)")
            }
            if reply.errorMessage?.hasPrefix("WRONGPASS") != true {
                #expect(try await globex.send("PING") == .simpleString("PONG"), "the session survives \(command)")
            }
        }
        #expect(tried == all.count)
        #expect(try await Self.snapshot(acme) == snapshot, "acme's data is unchanged")
        #expect(try await acme.send("PING") == .simpleString("PONG"), "acme's connection was not killed")
        await acme.close()
        await globex.close()
        await gateway.stop()
    }

    @Test func everyRoleGetsExactlyTheCommandsTheTableGivesIt() async throws {
        let gateway = try await TestGateway.start { $0.authFailuresBeforeThrottle = .max }
        let admin = try await gateway.connectAsAdmin()
        #expect(try await admin.send("TENANT.CREATE", "roles") == .ok)
        var keys: [Role: (id: String, secret: String)] = [.admin: (gateway.adminKeyID, gateway.adminSecret)]
        for role in Role.allCases where role != .admin {
            let key = try #require(try await admin.send("KEY.CREATE", "roles", role.rawValue).elements)
            keys[role] = (key[0].string!, key[1].string!)
        }
        await admin.close()

        var checked = 0
        for role in Role.allCases {
            let key = keys[role]!
            var connection = try await gateway.connect(keyID: key.id, secret: key.secret)
            for spec in CommandTable.standard.commands where spec.subcommands == nil {
                let example = try #require(spec.example, "\(spec.name) has no example")
                let words = try #require(InlineCommandSplitter.split(Array(example.utf8))).map {
                    String(decoding: $0, as: UTF8.self)
                }
                let reply: RESPValue
                do {
                    reply = try await connection.send(words)
                } catch is TestClient.ConnectionClosed {
                    // An earlier example (CLIENT KILL, KEY.REVOKE) closed this connection: try again on a new one.
                    connection = try await gateway.connect(keyID: key.id, secret: key.secret)
                    reply = try await connection.send(words)
                }
                let gate = "NOPERM this key's role (\(role.rawValue)) may not run '\(spec.name)'"
                if spec.roles.contains(role) {
                    #expect(reply.errorMessage != gate, "\(role) was refused \(spec.name)")
                } else {
                    #expect(reply.errorMessage == gate, "\(role) ran \(spec.name): \(reply)")
                }
                checked += 1
                // QUIT, RESET, MULTI, SUBSCRIBE and failed AUTHs change the connection; start clean.
                if (try? await connection.send("ECHO", "alive")) != .bulk("alive") {
                    await connection.close()
                    connection = try await gateway.connect(keyID: key.id, secret: key.secret)
                }
            }
            await connection.close()
        }
        let commands = CommandTable.standard.commands.filter { $0.subcommands == nil }.count
        #expect(checked == commands * Role.allCases.count)
        await gateway.stop()
    }

    /// The records ``anotherTenantGetsNotFoundForEveryIdentifier`` probes for.
    static func seedAcme(_ acme: TestClient) async throws {
        for command in [
            ["COMPANY.ADD", "name", "Acme secret account", "ext", "acme-co", "trust", "90"],
            ["CONTACT.ADD", "email", "secret@acme.example", "company", "1", "ext", "acme-contact"],
            ["DEAL.ADD", "title", "Acme secret deal", "company", "1", "amount", "9000", "ext", "acme-deal"],
            ["DEAL.ADD", "title", "Acme open deal", "company", "1", "close_date", "2030-01-15"],
            ["TICKET.ADD", "subject", "Acme secret ticket", "contact", "1", "company", "1"],
            ["COMPANY.STAGE", "1", "transition", "REASON", "growing"],
            ["COMPANY.STAGE", "1", "partner", "REASON", "EDI live"],
            ["INV.RULE", "acme-co", "SKU-1", "MIN", "5", "MAX", "10"], ["INV.SET", "acme-co", "SKU-1", "1"],
        ] {
            #expect(try await acme.send(command).errorMessage == nil, "\(command)")
        }
    }

    /// Everything of acme's that a probe could have changed.
    static func snapshot(_ acme: TestClient) async throws -> [RESPValue] {
        var replies: [RESPValue] = []
        for command in [
            ["CONTACT.GET", "1"], ["COMPANY.GET", "1"], ["DEAL.GET", "1"], ["DEAL.GET", "2"], ["TICKET.GET", "1"],
            ["INV.GET", "acme-co", "SKU-1"], ["REORDER.GET", "1"], ["TIMELINE", "company", "1"], ["KEY.LIST"],
            ["COMPANY.HISTORY", "1"],
        ] {
            replies.append(try await acme.send(command))
        }
        #expect(replies.allSatisfy { $0.errorMessage == nil }, "\(replies)")
        return replies
    }
}
