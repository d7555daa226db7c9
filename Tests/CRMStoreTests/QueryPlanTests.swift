import CRMCore
import CRMTestSupport
import GRDB
import Testing

@testable import CRMStore

/// FIND must reach its rows through an index, whatever the table's size:
/// these are SQLite's own plans for the statements FIND runs.
@Suite struct QueryPlanTests {
    static let indexedFinds: [(RecordKind, String, String)] = [
        (.contact, "WHERE lifecycle = lead LIMIT 10", "USING INDEX contacts_lifecycle"),
        (.contact, "WHERE owner = ana", "USING INDEX contacts_owner"),
        (.contact, "WHERE company = 7", "USING INDEX contacts_company"),
        (.contact, "WHERE email = ada@example.com", "USING INDEX"),
        (.contact, "SORTBY updated_at DESC LIMIT 20", "USING INDEX contacts_updated_at"),
        (.contact, "SEARCH quarterly LIMIT 10", "VIRTUAL TABLE INDEX"),
        (.company, "WHERE stage = partner", "USING INDEX companies_stage"),
        (.company, "WHERE name PREFIX Init", "USING INDEX companies_name"),
        (.deal, "WHERE status = open", "USING INDEX deals_status"),
        (.ticket, "WHERE status = open", "USING INDEX tickets_status"),
    ]

    @Test(arguments: indexedFinds)
    func findUsesAnIndex(type: RecordKind, find: String, expected: String) async throws {
        let directory = try TemporaryDirectory()
        let tenants = try TenantDirectory(root: directory.path + "/tenants")
        let database = try await tenants.acquire(TenantName("acme"))
        let words = find.split(separator: " ").map(String.init)
        let query = try FindQuery.parse(words, schema: type.schema)
        let plan = try await database.read { transaction in
            let (sql, arguments) = try type.table.findStatement(query)
            return try Row.fetchAll(transaction.db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                .map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains(expected) }, "plan for FIND \(find): \(plan)")
        let table = type.table.table
        #expect(!plan.contains("SCAN \(table)"), "a full scan of \(table) for FIND \(find): \(plan)")
        if !find.contains("PREFIX") {
            // A prefix range is read through its index and then put in id order: only the matches are sorted.
            #expect(!plan.contains { $0.contains("USE TEMP B-TREE FOR ORDER BY") }, "sorted in memory: \(plan)")
        }
    }
}
