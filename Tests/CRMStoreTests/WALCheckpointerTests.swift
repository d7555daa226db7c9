import CRMCore
import CRMStore
import CRMTestSupport
import Foundation
import Testing

/// The writer leaves checkpoints to a background queue: the database file
/// must still take in what the WAL holds, without a commit running it.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct WALCheckpointerTests {
    private func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }

    @Test func commitsAreCopiedIntoTheDatabaseFileInTheBackground() async throws {
        let acme = try await AcmeTenant()
        let database = acme.database
        let before = try fileSize(acme.tenants.path(of: database.name))
        let notes = String(repeating: "quarterly review ", count: 200)
        // 150 commits of about a page each: past the checkpointer's 100, far below the
        // 10,000 pages at which the writer would checkpoint by itself.
        for index in 0..<150 {
            let changes = try RecordSchema.contact.validate([("first_name", "C\(index)"), ("notes", notes)])
            _ = try await database.write { try $0.contacts.add(changes, actor: nil) }
        }
        // A checkpoint is due at every 100th commit, or at the first commit a second after the last
        // checkpoint, and copies what was committed when it runs. On a loaded machine the last one can
        // come before the last commits (a CI run ended six pages short): a commit over a second later
        // is due one then.
        var grown = try fileSize(acme.tenants.path(of: database.name))
        for attempt in 0..<50 where grown < before + 150 * 4096 {
            try await Task.sleep(for: .milliseconds(100))
            if attempt % 11 == 10 {
                let changes = try RecordSchema.contact.validate([("first_name", "late\(attempt)")])
                _ = try await database.write { try $0.contacts.add(changes, actor: nil) }
            }
            grown = try fileSize(acme.tenants.path(of: database.name))
        }
        #expect(grown >= before + 150 * 4096, "the WAL's pages reached the database file: \(before) -> \(grown)")
        let last = try await database.read { try $0.contacts.get(.id(150)) }
        #expect(last["first_name"] == "C149")
    }
}
