import CRMProtocol
import Foundation
import Testing

@testable import CRMAdmin

@Suite struct ReplyRendererTests {
    let people = ReplyRenderer(mode: .human(color: false))

    private func record(_ pairs: [(String, RESPValue)]) -> RESPValue {
        .map(pairs.map { (.bulk($0.0), $0.1) })
    }

    @Test func recordsAreAlignedFieldValueBlocks() {
        let text = people.render(record([("id", .integer(1)), ("email", .bulk("ann@example.com")), ("tier", .null)]))
        #expect(text == "id     1\nemail  ann@example.com\ntier   ")
    }

    @Test func pagesAreTablesWithANextCursorFooter() {
        let rows: RESPValue = .array([
            record([("id", .integer(1)), ("name", .bulk("Initech"))]),
            record([("id", .integer(12)), ("name", .bulk("Hooli")), ("stage", .bulk("partner"))]),
        ])
        #expect(
            people.render(.array([.bulk("12"), rows]))
                == """
                id  name     stage
                --  -------  -------
                1   Initech
                12  Hooli    partner
                -- next: CURSOR 12 --
                """)
        #expect(people.render(.array([.bulk("0"), rows])).hasSuffix("(2 rows)"))
        #expect(people.render(.array([.bulk("0"), .array([])])) == "(0 rows)")
    }

    @Test func longCellsAreCut() {
        var renderer = people
        renderer.maxCellWidth = 10
        let text = renderer.render(.array([record([("notes", .bulk(String(repeating: "x", count: 30)))])]))
        #expect(text.split(separator: "\n").last == "xxxxxxxxx…")
    }

    @Test func scalarsListsAndErrorsReadLikeRedisCLI() {
        #expect(people.render(.integer(3)) == "(integer) 3")
        #expect(people.render(.null) == "(nil)")
        #expect(people.render(.array([.bulk("a"), .array([.bulk("b"), .bulk("c")])])) == "1) a\n2) 1) b\n   2) c")
        #expect(people.render(.error("NOTFOUND no such contact")) == "(error) NOTFOUND no such contact")
        let red = ReplyRenderer(mode: .human(color: true)).render(.error("ERR x"))
        #expect(red == "\u{1B}[31m(error) ERR x\u{1B}[0m")
    }

    @Test func jsonIsValidAndTyped() throws {
        let reply: RESPValue = .array([
            .bulk("0"), .array([record([("id", .integer(7)), ("name", .bulk("Quote \" and \\ ")), ("x", .null)])]),
        ])
        let text = ReplyRenderer(mode: .json).render(reply)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any])
        let rows = try #require(parsed[1] as? [[String: Any]])
        #expect(rows[0]["id"] as? Int == 7)
        #expect(rows[0]["name"] as? String == "Quote \" and \\ ")
        #expect(rows[0]["x"] is NSNull)
        #expect(ReplyRenderer(mode: .json).render(.error("ERR bad")) == "{\"error\":\"ERR bad\"}")
    }

    @Test func rawPrintsBareValues() {
        let raw = ReplyRenderer(mode: .raw)
        #expect(raw.render(.array([.bulk("a"), .integer(2), .null])) == "a\n2\n")
        #expect(raw.render(record([("id", .integer(1))])) == "id\n1")
    }

    @Test func historyNeverKeepsSecrets() {
        #expect(HistoryRedaction.redact("AUTH k_1 s3cr3t") == "AUTH k_1 <redacted>")
        #expect(HistoryRedaction.redact("auth s3cr3t") == "auth <redacted>")
        #expect(
            HistoryRedaction.redact("HELLO 3 AUTH k_1 s3cr3t SETNAME x") == "HELLO 3 AUTH k_1 <redacted> SETNAME x")
        #expect(
            HistoryRedaction.redact("ECHO abcdef0123456789", known: ["abcdef0123456789"]) == "ECHO <redacted>")
        #expect(HistoryRedaction.redact("CONTACT.GET 1") == "CONTACT.GET 1")
    }

    @Test func keyringsReadableByOthersAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "# tenant key-id secret\nacme k_1 s1\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: TenantKeyring.Problem.self) { try TenantKeyring(path: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(try TenantKeyring(path: path).keys["acme"] == TenantKeyring.Key(id: "k_1", secret: "s1"))
    }
}
