import CRMProtocol
import CRMStore
import CRMTestSupport
import Foundation
import NIOCore
import Testing

/// `BACKUP` while writes go on, `crmgate restore` into a new data directory,
/// and `TENANT.RESTORE` on a running server.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct BackupTests {
    @Test func aBackupUnderWriteLoadHoldsEveryWriteAcknowledgedBeforeIt() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let writer = try await gateway.connect(keyID: key.id, secret: key.secret)
        let admin = try await gateway.connectAsAdmin()
        let before = (0..<500).map { "before-\($0)" }
        let acknowledged = try await writer.pipeline(
            before.map { ["CONTACT.ADD", "email", "\($0)@example.com", "ext", $0] })
        #expect(acknowledged.allSatisfy { $0.errorMessage == nil })

        // More writes are still arriving while the backup is taken.
        var during = ByteBuffer()
        for index in 0..<2_000 { during.writeRESPCommand(["CONTACT.ADD", "email", "during-\(index)@example.com"]) }
        try await writer.write(raw: during)
        let backup = try await admin.send("BACKUP", "TO", "under-load")
        #expect(backup.fields["tenants"] == "1", "\(backup)")
        let path = try #require(backup.fields["path"])
        #expect(path == gateway.directory.path + "/backups/under-load")
        for _ in 0..<2_000 { #expect(try await writer.read().errorMessage == nil) }
        #expect(try await admin.send("BACKUP", "TO", "under-load").errorMessage?.hasPrefix("CONFLICT") == true)
        #expect(try await admin.send("BACKUP", "TO", "../escape").errorMessage?.hasPrefix("INVALID backup:") == true)
        for file in ["catalog.sqlite", "tenants/acme.sqlite"] {
            #expect(try DatabaseCopy.integrityCheck(path + "/" + file) == "ok")
        }
        await writer.close()
        await admin.close()
        await gateway.stop()

        // crmgate restore into a new data directory (the operator keeps admin.key themselves).
        let restored = try TemporaryDirectory()
        let target = restored.path
        let (status, output) = try await ServerProcess.run(["restore", "--from", path, "--data-dir", target])
        #expect(status == 0, "\(output)")
        #expect(output.contains("restored the catalog and 1 tenants"))
        let again = try await ServerProcess.run(["restore", "--from", path, "--data-dir", target])
        #expect(again.status != 0 && again.output.contains("already has a catalog"))
        try FileManager.default.copyItem(atPath: gateway.directory.path + "/admin.key", toPath: target + "/admin.key")
        let second = try await TestGateway.start(directory: restored)
        let reader = try await second.connect(keyID: key.id, secret: key.secret)
        let replies = try await reader.pipeline(before.map { ["CONTACT.GET", $0] })
        #expect(zip(before, replies).allSatisfy { $0.1.fields["ext"] == $0.0 }, "writes acknowledged before BACKUP")
        let page = try await reader.send("CONTACT.FIND", "LIMIT", "1000", "SORTBY", "id", "DESC")
        let count = try #require(page.elements?[1].elements?.count)
        #expect((500...2_500).contains(count), "the copy is one snapshot: \(count) contacts")
        await reader.close()
        await second.stop()
    }

    @Test func tenantRestoreBringsOneTenantBackOnARunningServer() async throws {
        let gateway = try await TestGateway.start()
        let acmeKey = try await gateway.createTenantKey("acme")
        let acme = try await gateway.connect(keyID: acmeKey.id, secret: acmeKey.secret)
        let globex = try await gateway.connect(tenant: "globex")
        let admin = try await gateway.connectAsAdmin()
        #expect(try await acme.send("CONTACT.ADD", "email", "keep@example.com") == .integer(1))
        #expect(try await globex.send("CONTACT.ADD", "email", "g@example.com") == .integer(1))
        #expect(try await admin.send("BACKUP", "TENANT", "acme", "TO", "acme-only").fields["tenants"] == "1")
        #expect(try await acme.send("CONTACT.DEL", "1") == .integer(1))
        #expect(try await globex.send("CONTACT.SET", "1", "title", "after").errorMessage == nil)

        #expect(try await admin.send("TENANT.RESTORE", "acme", "FROM", "acme-only") == .ok)
        #expect(await acme.isClosedByServer(), "acme's sessions are closed")
        let back = try await gateway.connect(keyID: acmeKey.id, secret: acmeKey.secret)
        #expect(try await back.send("CONTACT.GET", "1").fields["email"] == "keep@example.com")
        #expect(try await globex.send("CONTACT.GET", "1").fields["title"] == "after", "globex is untouched")
        #expect(try await admin.send("TENANT.INFO", "acme").fields["status"] == "active")
        let missing = try await admin.send("TENANT.RESTORE", "globex", "FROM", "acme-only")
        #expect(missing.errorMessage == "NOTFOUND the backup holds no tenant globex")
        for client in [back, globex, admin] { await client.close() }
        await gateway.stop()
    }
}

@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct BackupScriptTests {
    @Test func opsBackupWritesABackupAndKeepsTheNewest() async throws {
        let gateway = try await TestGateway.start()
        _ = try await gateway.createTenantKey("acme")
        let script = ConfigurationFileTests.repository.appendingPathComponent("Ops/backup.sh").path
        let arguments = ["--data-dir", gateway.directory.path, "--port", String(gateway.port), "--keep", "1"]
        for _ in 0..<2 {
            let (status, output) = try await ServerProcess.run(arguments, executable: script)
            #expect(status == 0, "\(output)")
            #expect(output.contains("backup auto-"))
            try await Task.sleep(for: .milliseconds(1100))
        }
        let backups = try FileManager.default.contentsOfDirectory(atPath: gateway.directory.path + "/backups")
        #expect(backups.count == 1 && backups[0].hasPrefix("auto-"), "\(backups)")
        let kept = gateway.directory.path + "/backups/" + backups[0]
        #expect(try DatabaseCopy.integrityCheck(kept + "/tenants/acme.sqlite") == "ok")
        await gateway.stop()
    }
}

/// On PostgreSQL, backups are PostgreSQL's own job: BACKUP and TENANT.RESTORE say which tools to use.
@Suite(.enabled(if: TestStorage.isPostgres, "PostgreSQL")) struct PostgresBackupTests {
    @Test func backupAndRestoreNamePostgreSQLsOwnTools() async throws {
        let gateway = try await TestGateway.start()
        _ = try await gateway.createTenantKey("acme")
        let admin = try await gateway.connectAsAdmin()
        for command in [["BACKUP", "TO", "nightly"], ["BACKUP", "TENANT", "acme", "TO", "nightly"]] {
            let reply = try await admin.send(command)
            #expect(
                reply.errorMessage?.hasPrefix("ERR BACKUP and TENANT.RESTORE copy SQLite files") == true, "\(reply)")
            #expect(reply.errorMessage?.contains("pg_dump --schema=crmgate") == true, "\(reply)")
        }
        let restore = try await admin.send("TENANT.RESTORE", "acme", "FROM", "nightly")
        #expect(restore.errorMessage?.contains("pg_restore") == true, "\(restore)")
        #expect(!FileManager.default.fileExists(atPath: gateway.directory.path + "/backups/nightly"))
        await admin.close()
        await gateway.stop()
    }
}
