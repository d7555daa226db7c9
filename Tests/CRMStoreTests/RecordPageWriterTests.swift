import CRMCore
import CRMStore
import CRMTestSupport
import Testing

/// A FIND page written row by row (``RecordPageWriter``) holds exactly the
/// records, fields and cursor that ``RecordCollection/find(_:)`` returns.
@Suite struct RecordPageWriterTests {
    let acme: AcmeTenant
    var database: TenantDatabase { acme.database }

    init() async throws {
        acme = try await AcmeTenant()
    }

    /// Collects the records written into it as field/value pairs.
    struct CollectedPage: RecordPageWriter {
        var records: [[String]] = []
        var expectedFields: [Int] = []

        mutating func startRecord(fieldCount: Int) {
            records.append([])
            expectedFields.append(fieldCount)
        }

        mutating func field(_ name: String, _ value: UnsafeRawBufferPointer) {
            records[records.count - 1].append("\(name)=\(String(decoding: value, as: UTF8.self))")
        }

        mutating func field(_ name: String, decimal value: Int64) {
            records[records.count - 1].append("\(name)=\(value)")
        }
    }

    @Test(arguments: [
        [], ["LIMIT", "3"], ["SORTBY", "last_name", "LIMIT", "4"], ["SORTBY", "company", "DESC", "LIMIT", "2"],
        ["SORTBY", "created_at", "LIMIT", "5"], ["SORTBY", "x_tier", "LIMIT", "3"],
        ["WHERE", "lifecycle", "=", "lead"],
        ["SEARCH", "lovelace", "LIMIT", "2"], ["WHERE", "last_name", "=", "nobody"],
    ])
    func aWrittenPageIsTheFoundPage(_ words: [String]) async throws {
        // A reference is stored as an integer: its text is written in decimal.
        let company = try await database.write { writer in
            try writer.companies.add(RecordSchema.company.validate([("name", "Analytical Engines")]), actor: nil)
        }
        for index in 0..<12 {
            var pairs: [(String, String)] = [
                ("first_name", "Ada\(index)"), ("lifecycle", index % 2 == 0 ? "lead" : "customer"),
            ]
            if index % 3 != 0 { pairs.append(("last_name", index % 4 == 0 ? "Lovelace" : "Byron \(index % 5)")) }
            if index % 4 == 1 { pairs.append(("x_tier", "gold\(index % 3)")) }
            if index % 5 != 2 { pairs.append(("company", String(company))) }
            if index == 7 { pairs.append(("notes", "Lovelace's notes, with ünïcode")) }
            _ = try await database.add(try RecordSchema.contact.validate(pairs), actor: nil)
        }
        var query = try FindQuery.parse(words, schema: .contact)
        var pages = 0
        while true {
            pages += 1
            let current = query
            let (found, written) = try await database.read { reader in
                var page = CollectedPage()
                let written = try reader.contacts.find(current, into: &page)
                return (try reader.contacts.find(current), (page, written.count, written.next))
            }
            #expect(written.0.records == found.records.map { $0.allFields.map { "\($0.name)=\($0.value)" } })
            #expect(written.0.expectedFields == written.0.records.map(\.count), "each record's field count up front")
            #expect(written.1 == found.records.count)
            #expect(written.2 == found.next)
            guard let next = found.next else { break }
            query.after = next
        }
        #expect(pages >= 1)
    }
}
