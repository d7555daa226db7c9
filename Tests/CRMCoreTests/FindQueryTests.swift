import CRMCore
import Testing

@Suite struct FindQueryTests {
    private func parse(_ line: String) throws -> FindQuery {
        try FindQuery.parse(line.split(separator: " ").map(String.init), schema: .contact)
    }

    @Test func parsesEveryClause() throws {
        let query = try parse(
            "WHERE lifecycle = Lead AND x_region PREFIX eu owner != bob SEARCH ada SORTBY updated_at DESC LIMIT 5")
        #expect(query.conditions.count == 3)
        #expect(query.conditions[0] == .init(field: "lifecycle", op: .equal, value: "lead"))
        #expect(query.conditions[1] == .init(field: "x_region", op: .prefix, value: "eu"))
        #expect(query.conditions[2] == .init(field: "owner", op: .notEqual, value: "bob"))
        #expect(query.search == "ada")
        #expect(query.sortField == "updated_at")
        #expect(query.descending)
        #expect(query.limit == 5)
    }

    @Test func defaultsToIdOrderAndTwentyRows() throws {
        let query = try parse("")
        #expect(query.sortField == "id" && !query.descending && query.limit == 20 && query.conditions.isEmpty)
    }

    static let rejected = [
        "WHERE nosuch = 1", "WHERE lifecycle ~ lead", "WHERE lifecycle = prospect", "LIMIT 0", "LIMIT 1001",
        "LIMIT x", "SORTBY secret", "CURSOR zz", "BOGUS", "WHERE email",
    ]

    @Test(arguments: rejected)
    func rejectsBadQueries(line: String) {
        #expect(throws: InvalidField.self) { _ = try parse(line) }
    }

    @Test func searchWordsSplitAtASCIIPunctuationAndSpaceAndFoldASCIICase() throws {
        #expect(try parse("SEARCH Ada").searchWords == ["ada"])
        #expect(
            try FindQuery.parse(["SEARCH", "O'Neil, ACME-42  \"quoted\" NOT*"], schema: .contact).searchWords
                == ["o", "neil", "acme", "42", "quoted", "not"])
        // Non-ASCII characters belong to words and keep their case: the index's tokenizer folds them.
        #expect(try FindQuery.parse(["SEARCH", "Łukasz Ölund"], schema: .contact).searchWords == ["Łukasz", "Ölund"])
        #expect(try FindQuery.parse(["SEARCH", "-- ** ()"], schema: .contact).searchWords.isEmpty)
    }

    @Test func cursorRoundTripsAndMustMatchTheSort() throws {
        let cursor = FindCursor(
            sortField: "updated_at", descending: true, sortValue: "2026-01-01T00:00:00.000Z", id: 42)
        #expect(try FindCursor(encoded: cursor.encoded) == cursor)
        let query = try parse("SORTBY updated_at DESC CURSOR \(cursor.encoded)")
        #expect(query.after == cursor)
        #expect(throws: InvalidField.self) { _ = try parse("SORTBY email CURSOR \(cursor.encoded)") }
        #expect(try parse("CURSOR 0").after == nil)
    }
}
