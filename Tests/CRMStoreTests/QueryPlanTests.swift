import CRMCore
import CRMTestSupport
import Testing

@testable import CRMStore

/// FIND must reach its rows through an index, whatever the table's size:
/// these are SQLite's own plans for the statements FIND runs.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct QueryPlanTests {
    static let indexedFinds: [(RecordKind, String, String)] = [
        (.contact, "WHERE lifecycle = lead LIMIT 10", "USING INDEX contacts_lifecycle"),
        (.contact, "WHERE owner = ana", "USING INDEX contacts_owner"),
        (.contact, "WHERE company = 7", "USING INDEX contacts_company"),
        (.contact, "WHERE email = ada@example.com", "USING INDEX"),
        (.contact, "SORTBY updated_at DESC LIMIT 20", "USING INDEX contacts_updated_at"),
        (.contact, "SEARCH quarterly LIMIT 10", "VIRTUAL TABLE INDEX"),
        // The matches drive the join in id order, not the lifecycle index with a lookup in the FTS index per row.
        (.contact, "WHERE lifecycle = lead SEARCH quarterly LIMIT 10", "VIRTUAL TABLE INDEX"),
        (.contact, "SEARCH quarterly SORTBY id DESC LIMIT 10", "VIRTUAL TABLE INDEX"),
        (.company, "WHERE stage = partner", "USING INDEX companies_stage"),
        (.company, "WHERE name PREFIX Init", "USING INDEX companies_name"),
        (.deal, "WHERE status = open", "USING INDEX deals_status"),
        (.ticket, "WHERE status = open", "USING INDEX tickets_status"),
    ]

    /// The plan of `query` on a tenant with `contacts` contacts (FTS5 estimates a search's cost from its rows).
    private static func plan(_ type: RecordKind, _ query: FindQuery, contacts: Int = 0) async throws -> [String] {
        let directory = try TemporaryDirectory()
        let tenants = try TenantDirectory(root: directory.path + "/tenants")
        let database = try await tenants.acquire(TenantName("acme"))
        try await database.write { transaction in
            for index in 0..<contacts {
                let fields = [("lifecycle", "lead"), ("notes", "quarterly review \(index)")]
                _ = try transaction.contacts.add(RecordSchema.contact.validate(fields), actor: nil)
            }
        }
        return try await database.read { transaction in
            let (sql, arguments) = try type.table.findStatement(query, dialect: transaction.db.dialect)
            // EXPLAIN QUERY PLAN's columns: id, parent, notused, detail.
            return try transaction.db.rows("EXPLAIN QUERY PLAN " + sql, arguments).map { $0[3] as String }
        }
    }

    @Test(arguments: indexedFinds)
    func findUsesAnIndex(type: RecordKind, find: String, expected: String) async throws {
        let words = find.split(separator: " ").map(String.init)
        let plan = try await Self.plan(type, FindQuery.parse(words, schema: type.schema))
        #expect(plan.contains { $0.contains(expected) }, "plan for FIND \(find): \(plan)")
        let table = type.table.table
        #expect(!plan.contains("SCAN \(table)"), "a full scan of \(table) for FIND \(find): \(plan)")
        if !find.contains("PREFIX") {
            // A prefix range is read through its index and then put in id order: only the matches are sorted.
            #expect(!plan.contains { $0.contains("USE TEMP B-TREE FOR ORDER BY") }, "sorted in memory: \(plan)")
        }
    }

    /// A later page of a search with a condition: the matches drive the join, in id order from the
    /// cursor on, and the page ends after its rows. With the matches as an `IN (SELECT rowid …)`
    /// list, the planner read the condition's index first and sorted every match.
    @Test func aSearchsLaterPageReadsTheMatchesInIdOrder() async throws {
        var query = try FindQuery.parse(
            ["WHERE", "lifecycle", "=", "lead", "SEARCH", "quarterly", "LIMIT", "10"], schema: .contact)
        query.after = FindCursor(sortField: "id", descending: false, sortValue: "5", id: 5)
        let plan = try await Self.plan(.contact, query, contacts: 2000)
        #expect(plan.first?.contains("VIRTUAL TABLE INDEX") == true, "\(plan)")
        #expect(!plan.contains { $0.contains("USE TEMP B-TREE FOR ORDER BY") }, "sorted in memory: \(plan)")
    }
}
