import CRMProtocol
import Testing

@testable import CRMAdmin

@Suite struct CommandAssistTests {
    let assist = CommandAssist()

    @Test func completesCommandNamesInTheCaseTyped() {
        #expect(assist.complete("contact.fi") == .init(insert: "nd ", candidates: []))
        #expect(assist.complete("CONTACT.FO") == .init(insert: "RGET ", candidates: []))
        let several = assist.complete("REORDER.C")
        #expect(several.insert == "")
        #expect(
            several.candidates
                == ["REORDER.CONFIRM", "REORDER.CANCEL"].sorted { a, b in
                    assist.table.commands.firstIndex { $0.name == a }! < assist.table.commands.firstIndex {
                        $0.name == b
                    }!
                })
        #expect(assist.complete("inv.").candidates.contains("inv.adj"))
        #expect(assist.complete(":mo") == .init(insert: "nitor ", candidates: []))
        #expect(assist.complete("NOSUCH.X").candidates.isEmpty)
    }

    @Test func completesSubcommandsAndEnumeratedValues() {
        #expect(assist.complete("CLIENT L") == .init(insert: "IST ", candidates: []))
        #expect(assist.complete("COMPANY.STAGE 1 par") == .init(insert: "tner ", candidates: []))
        #expect(assist.complete("COMPANY.STAGE 1 ").candidates == ["transaction", "transition", "partner", "conflict"])
        #expect(assist.complete("KEY.CREATE acme ").candidates == ["admin", "owner", "agent", "erp", "readonly"])
        #expect(assist.complete("TICKET.STATUS 7 re") == .init(insert: "solved ", candidates: []))
        #expect(assist.complete("REORDER.LIST STATUS ").candidates.contains("held"))
        #expect(assist.complete(":monitor ").candidates == ["reorders", "events"])
    }

    @Test func completesRecordFieldsAndTheirValues() {
        #expect(assist.complete("CONTACT.ADD email a@b.example life") == .init(insert: "cycle ", candidates: []))
        let lifecycle = assist.complete("CONTACT.ADD lifecycle ").candidates
        #expect(lifecycle.contains("lead") && lifecycle.contains("customer"))
        #expect(assist.complete("CONTACT.ADD lifecycle lead ").candidates.contains("email"))
        #expect(assist.complete("CONTACT.FIND WHERE ").candidates.contains("lifecycle"))
        #expect(assist.complete("CONTACT.FIND WHERE lifecycle ").candidates.contains("PREFIX"))
    }

    @Test func completesOptionTokensAfterTheRequiredArguments() {
        let options = assist.complete("REORDER.LIST ").candidates
        #expect(Set(options).isSuperset(of: ["STATUS", "COMPANY", "LIMIT", "CURSOR"]))
        #expect(!assist.complete("REORDER.LIST STATUS held ").candidates.contains("STATUS"), "each option once")
    }

    @Test func hintsShowWhatIsLeft() {
        #expect(assist.hint("CONTACT.GET") == "", "no hint before the space")
        #expect(assist.hint("CONTACT.GET ") == "id-or-ext")
        #expect(assist.hint("COMPANY.STAGE ") == "id transaction|transition|partner|conflict REASON reason")
        #expect(assist.hint("COMPANY.STAGE 4 ") == "transaction|transition|partner|conflict REASON reason")
        #expect(assist.hint("EVENTS.READ FROM 3 ").contains("[COUNT count]"))
        #expect(!assist.hint("EVENTS.READ FROM 3 ").contains("FROM"))
        #expect(assist.hint("CLIENT ").contains("LIST"))
        #expect(assist.hint("NOSUCH ") == "")
    }

    @Test func suggestsCloseNamesForTypos() {
        #expect(assist.suggestions(for: "CONTAKT.GET").first == "CONTACT.GET")
        #expect(assist.suggestions(for: "reorder.lst").first == "REORDER.LIST")
        #expect(assist.suggestions(for: "xyzzy-nothing-like-it").isEmpty)
    }

    @Test func helpComesFromTheTable() throws {
        let help = CommandHelp()
        let stage = try #require(help.text(for: "company.stage"))
        #expect(stage.hasPrefix("COMPANY.STAGE id transaction|transition|partner|conflict REASON reason"))
        #expect(stage.contains("example: "))
        #expect(stage.contains("errors:"))
        let group = try #require(help.text(for: "@reorder"))
        #expect(group.contains("REORDER.CONFIRM") && !group.contains("CONTACT.GET"))
        #expect(try #require(help.text(for: nil)).contains(":tenant NAME"))
        #expect(help.text(for: "NOSUCH") == nil)
    }

    @Test func helpTextWrapsAtWordBoundaries() {
        let wrapped = CommandHelp.wrap("  summary: " + String(repeating: "word ", count: 30), width: 40)
        let lines = wrapped.split(separator: "\n")
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.count <= 40 })
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("    word") }, "continuations keep the indentation")
    }
}
