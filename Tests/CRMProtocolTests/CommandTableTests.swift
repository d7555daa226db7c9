import CRMCore
import CRMProtocol
import Foundation
import Testing

@Suite struct CommandTableTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func compiledTableIsTheProtocolsFile() throws {
        let file = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("Protocols/commands.json"), encoding: .utf8)
        #expect(
            file.trimmingCharacters(in: .whitespacesAndNewlines)
                == CommandTable.sourceJSON.trimmingCharacters(in: .whitespacesAndNewlines),
            "Protocols/commands.json changed: run Ops/gen-command-table")
    }

    @Test func everyCommandIsFullyDeclared() throws {
        let table = CommandTable.standard
        #expect(Set(table.commands.map(\.name)).count == table.commands.count, "duplicate names")
        for spec in table.commands {
            #expect(spec.name == spec.name.uppercased(), "\(spec.name) is not upper case")
            #expect(!spec.summary.isEmpty, "\(spec.name) has no summary")
            #expect(!spec.roles.isEmpty, "\(spec.name) has no roles")
            #expect(spec.arity != 0, "\(spec.name) has arity 0")
            let example = try #require(spec.example, "\(spec.name) has no example")
            let words = InlineCommandSplitter.split(Array(example.utf8))!
            #expect(spec.acceptsArgumentCount(words.count), "\(spec.name) example '\(example)' violates its arity")
            #expect(example.uppercased().hasPrefix(spec.name), "\(spec.name) example runs another command")
            for subcommand in spec.subcommands ?? [] {
                #expect(table["\(spec.name) \(subcommand)"] != nil, "\(spec.name) lists missing \(subcommand)")
            }
            for argument in spec.arguments { expectWellFormed(argument, in: spec.name) }
        }
    }

    /// Shaped as Redis 7 clients read `COMMAND DOCS` arguments: `redis-cli`
    /// follows a `oneof` or `block` into its parts, and crashes when it has none.
    private func expectWellFormed(_ argument: CommandArgument, in command: String) {
        let place = "\(command) argument \(argument.name)"
        #expect(
            ["string", "integer", "double", "key", "pattern", "unix-time", "pure-token", "oneof", "block"]
                .contains(argument.type), "\(place) has type \(argument.type)")
        if argument.type == "oneof" || argument.type == "block" {
            #expect(argument.arguments?.isEmpty == false, "\(place) is a \(argument.type) without parts")
            #expect(argument.values == nil, "\(place): a \(argument.type)'s choices are its parts")
        } else {
            #expect(argument.arguments == nil, "\(place) is a \(argument.type) with parts")
        }
        if argument.type == "pure-token" { #expect(argument.token != nil, "\(place) is a pure-token without a token") }
        for part in argument.arguments ?? [] { expectWellFormed(part, in: command) }
    }

    @Test func syntaxIsRenderedFromArguments() throws {
        let find = try #require(CommandTable.standard["CONTACT.FIND"])
        #expect(find.syntax.hasPrefix("CONTACT.FIND [WHERE field =|!=|<|<=|>|>=|PREFIX value"))
        #expect(find.syntax.hasSuffix("[LIMIT count] [CURSOR cursor]"))
        #expect(CommandTable.standard["CONTACT.GET"]?.syntax == "CONTACT.GET id-or-ext")
    }

    @Test func preAuthenticationCommandsAreExactlyTheOnesRedisAllows() {
        let noauth = CommandTable.standard.topLevel.filter { $0.flags.contains(.noauth) }.map(\.name)
        #expect(Set(noauth) == ["PING", "HELLO", "AUTH", "QUIT", "COMMAND"])
    }
}

@Suite struct CommandReferenceTests {
    @Test func committedReferenceIsGeneratedFromTheTable() throws {
        let file = try String(
            contentsOf: CommandTableTests.repositoryRoot.appendingPathComponent("Protocols/COMMANDS.md"),
            encoding: .utf8)
        let sessions = try CommandReference.sessions(
            in: CommandTableTests.repositoryRoot.appendingPathComponent("Protocols/sessions").path)
        #expect(Set(sessions.keys).isSuperset(of: ["company", "contact", "deal", "ticket", "activity"]))
        #expect(
            file == CommandReference.markdown(.standard, sessions: sessions),
            "Protocols/COMMANDS.md is stale: run Ops/record-sessions (or crmgate reference --sessions Protocols/sessions)"
        )
    }
}
