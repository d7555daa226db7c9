import CRMTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A program running in a pseudo-terminal, typed at and read like a person would.
final class PseudoTerminal {
    struct Timeout: Error, CustomStringConvertible {
        let waitingFor: String
        let screen: String
        var description: String { "timed out waiting for \(waitingFor.debugDescription); output:\n\(screen)" }
    }

    private let process: SpawnedProcess
    private let master: Int32
    /// Everything the program wrote, escape sequences included.
    private(set) var transcript = ""
    private var consumed = String.Index?.none

    init(executable: String, arguments: [String], environment: [String: String]) throws {
        var master: Int32 = 0
        var slave: Int32 = 0
        var size = winsize(ws_row: 40, ws_col: 160, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&master, &slave, nil, nil, &size) == 0 else { throw POSIXError(.ENOTTY) }
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        self.master = master
        defer { close(slave) }
        do {
            process = try SpawnedProcess(
                executable: executable, arguments: arguments, environment: environment,
                standardInput: slave, standardOutput: slave, standardError: slave)
        } catch {
            close(master)
            throw error
        }
    }

    deinit {
        if process.isRunning { process.signal(SIGTERM) }
        close(master)
    }

    /// Ctrl-C: SIGINT, as the terminal sends its foreground process (the
    /// pseudo-terminal is not the program's controlling terminal, so typing
    /// `^C` into it would only echo).
    func interrupt() {
        process.signal(SIGINT)
    }

    func type(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count - 1) }
    }

    /// Waits until new output contains `text`; returns the output from the last match up to this one.
    /// As long as a test client waits for a reply (``TestClient/replyWait``): on a CI machine running
    /// every suite on one PostgreSQL, the AUTH behind `:tenant` took up to 20 s (its tenant's schema is
    /// created then).
    @discardableResult
    func expect(_ text: String, within limit: Duration = TestClient.replyWait) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while true {
            drain()
            let start = consumed ?? transcript.startIndex
            if let found = transcript[start...].range(of: text) {
                consumed = found.upperBound
                return String(transcript[start..<found.upperBound])
            }
            guard ContinuousClock.now < deadline else { throw Timeout(waitingFor: text, screen: transcript) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the program to exit; its status.
    func exitStatus(within limit: Duration = .seconds(10)) async throws -> Int32 {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            drain()
            guard ContinuousClock.now < deadline else { throw Timeout(waitingFor: "exit", screen: transcript) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(master, &buffer, buffer.count)
            guard count > 0 else { return }
            transcript += String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }
}

/// The real `crmgate-admin` binary in a pseudo-terminal against a real server.
@Suite struct AdminREPLTests {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/crmgate-admin").path

    /// The REPL with `gateway`'s admin key, `home` as its HOME and tenant keys in `keysFile`.
    static func adminREPL(_ gateway: TestGateway, home: String, keysFile: String) throws -> PseudoTerminal {
        try PseudoTerminal(
            executable: binary,
            arguments: [
                "--port", String(gateway.port), "--cacert", gateway.caPath, "--key-id", gateway.adminKeyID,
                "--keys-file", keysFile,
            ],
            environment: [
                "HOME": home, "TERM": "xterm", "CRMGATE_KEY": gateway.adminSecret,
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin",
            ])
    }

    @Test func anOperatorSessionCompletesRendersErrsAndKeepsSecretsOutOfHistory() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let home = try TemporaryDirectory()
        let keysFile = home.path + "/keys"
        try "acme \(key.id) \(key.secret)\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keysFile)

        let terminal = try Self.adminREPL(gateway, home: home.path, keysFile: keysFile)
        try await terminal.expect("connected to 127.0.0.1:\(gateway.port)")
        try await terminal.expect("127.0.0.1:\(gateway.port)> ")

        terminal.type(":tenant acme\r")
        try await terminal.expect("[acme]> ")
        terminal.type("CONTACT.ADD email ann@initech.example first_name Ann lifecycle lead\r")
        try await terminal.expect("(integer) 1")
        try await terminal.expect(" ms)")

        // Tab completes the command name; the reply is a table with its footer.
        terminal.type("contact.fi\t")
        try await terminal.expect("nd")
        terminal.type("WHERE lifecycle = lead\r")
        let table = try await terminal.expect("(1 row)")
        #expect(table.contains("email"))
        #expect(table.contains("ann@initech.example"))

        // Tab on an enumerated value lists the candidates.
        terminal.type("COMPANY.STAGE 1 tra\t")
        try await terminal.expect("transaction")
        try await terminal.expect("transition")
        terminal.type("\u{15}")  // Ctrl-U clears the line

        terminal.type("\rCONTACT.GET 999\r")
        try await terminal.expect("(error) NOTFOUND")
        terminal.type("CONTAKT.GET 1\r")
        try await terminal.expect("did you mean CONTACT.GET")
        terminal.type("HELP COMPANY.STAGE\r")
        try await terminal.expect("errors:")
        terminal.type("AUTH \(key.id) \(key.secret)\r")
        try await terminal.expect("OK")
        terminal.type(":quit\r")
        #expect(try await terminal.exitStatus() == 0)

        let history = try String(contentsOfFile: home.path + "/.crmgate_history", encoding: .utf8)
        #expect(history.contains("CONTACT.ADD"))
        #expect(history.contains("redacted"))
        #expect(!history.contains(key.secret), "the tenant secret typed in AUTH is not in the history")
        #expect(!history.contains(gateway.adminSecret))
        let mode = try FileManager.default.attributesOfItem(atPath: home.path + "/.crmgate_history")[.posixPermissions]
        #expect((mode as? NSNumber)?.intValue == 0o600)
        await gateway.stop()
    }

    @Test func oneShotAndScriptModesExitWithTheRightStatus() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        func admin(_ arguments: [String], stdin: String? = nil) async throws -> (Int32, String) {
            let result = try await ChildProcess.run(
                Self.binary, ["--port", String(gateway.port), "--cacert", gateway.caPath] + arguments,
                environment: ["CRMGATE_KEY": "\(key.id) \(key.secret)", "HOME": "/nonexistent"], stdin: stdin)
            return (result.status, result.output)
        }
        #expect(try await admin(["CONTACT.ADD", "email", "a@b.example"]) == (0, "(integer) 1\n"))
        #expect(try await admin(["CONTACT.GET", "99"]).0 == 1)
        let json = try await admin(["--json", "CONTACT.GET", "1"])
        #expect(json.0 == 0)
        let record = try JSONSerialization.jsonObject(with: Data(json.1.utf8)) as? [String: Any]
        #expect(record?["email"] as? String == "a@b.example")
        #expect(try await admin(["--raw", "CONTACT.FIND"]).1.contains("a@b.example\n"))

        let stopped = try await admin([], stdin: "PING\nCONTACT.GET 99\nCONTACT.ADD email c@d.example\n")
        #expect(stopped.0 == 1)
        #expect(!stopped.1.contains("(integer) 2"), "the script stopped at the first error")
        let continued = try await admin(["--continue"], stdin: "CONTACT.GET 99\nCONTACT.ADD email c@d.example\n")
        #expect(continued.0 == 1)
        #expect(continued.1.contains("(integer) 2"))
        let badKey = try await admin(["--key-id", key.id, "--secret", "wrong", "PING"])
        #expect(badKey.0 != 0)
        #expect(!badKey.1.contains(key.secret))
        #expect(badKey.1.hasPrefix("crmgate-admin: authentication failed: WRONGPASS"), "\(badKey.1)")
        #expect(badKey.1.split(separator: "\n").count == 1, "one line: \(badKey.1)")
        let refused = try await ChildProcess.run(
            Self.binary, ["--port", "1", "--cacert", gateway.caPath, "--key-id", key.id, "--secret", "x", "PING"])
        #expect(
            refused.output
                == "crmgate-admin: cannot connect to 127.0.0.1:1: nothing listens there (is crmgate running? check --host and --port)\n"
        )
        let wrongCA = try await ChildProcess.run(
            Self.binary,
            [
                "--port", String(gateway.port), "--cacert", "/etc/ssl/certs/ca-certificates.crt", "--key-id", key.id,
                "--secret", key.secret, "PING",
            ])
        #expect(wrongCA.output.hasPrefix("crmgate-admin: TLS failed: the server's certificate is not signed by"))
        let commented = try await admin([], stdin: "# a comment\n\n   \nCONTACT.ADD email e@f.example\n# done\n")
        #expect(commented == (0, "(integer) 3\n"), "blank and # lines are not sent")
        await gateway.stop()
    }

    @Test func monitorFollowsEventsCtrlCReturnsAndKeysAreSavedWithoutHandEditing() async throws {
        let gateway = try await TestGateway.start()
        let home = try TemporaryDirectory()
        let keysFile = home.path + "/keys"
        let terminal = try Self.adminREPL(gateway, home: home.path, keysFile: keysFile)
        try await terminal.expect("127.0.0.1:\(gateway.port)> ")

        // An admin key may not subscribe: the server's own refusal is shown.
        terminal.type(":monitor reorders\r")
        try await terminal.expect("NOPERM")

        // KEY.CREATE offers to keep the new key for :tenant; the file is made private.
        terminal.type("TENANT.CREATE acme\r")
        try await terminal.expect("OK")
        terminal.type("KEY.CREATE acme owner\r")
        let submitted = try await terminal.expect("[y/N]")
        // The hint still showing ([LABEL text]) is erased from the submitted line: back up, erase to its end.
        #expect(submitted.contains("\u{1B}[A\u{1B}[") && submitted.contains("\u{1B}[K\r\u{1B}[B"))
        terminal.type("y\r")
        try await terminal.expect("stored the key")
        let stored = try String(contentsOfFile: keysFile, encoding: .utf8).split(separator: " ")
        #expect(stored.first == "acme")
        let mode = try FileManager.default.attributesOfItem(atPath: keysFile)[.posixPermissions]
        #expect((mode as? NSNumber)?.intValue == 0o600)

        // :key save reads the secret without echoing it, and stores it once the server accepts it.
        let reader = try await gateway.createTenantKey("acme", role: "readonly", create: false)
        terminal.type(":key save globex \(reader.id)\r")
        try await terminal.expect("secret for \(reader.id): ")
        terminal.type("\(reader.secret)\r")
        let saved = try await terminal.expect("stored the key")
        #expect(!saved.contains(reader.secret), "the secret is not echoed")

        // In RESP3 SUBSCRIBE is confirmed by a push frame: :monitor takes it as the answer and follows.
        terminal.type(":tenant acme\r")
        try await terminal.expect("[acme]> ")
        terminal.type(":monitor events\r")
        try await terminal.expect("Ctrl-C stops")
        let writer = try await gateway.connect(keyID: reader.id, secret: reader.secret)
        let owner = try await gateway.connect(tenant: "acme", create: false)
        try await owner.send("CONTACT.ADD", "email", "pushed@example.com")
        try await terminal.expect("pushed@example.com")
        terminal.interrupt()
        try await terminal.expect("[acme]> ")
        terminal.type("PING\r")
        try await terminal.expect("PONG")

        terminal.type("HELP CONTACT.FIND\r")
        try await terminal.expect("roles:")
        terminal.type("clear\r")
        try await terminal.expect("\u{1B}[2J")
        terminal.type(":quit\r")
        #expect(try await terminal.exitStatus() == 0)
        await writer.close()
        await owner.close()
        await gateway.stop()
    }

    @Test func helpPrintsTheToolsOwnUsage() async throws {
        for flag in ["--help", "-h"] {
            let (status, output) = try await ChildProcess.run(Self.binary, [flag])
            #expect(status == 0, "\(flag): \(output)")
            #expect(output.contains("USAGE: crmgate-admin"), "\(flag): \(output)")
            #expect(!output.contains("unknown command"), "\(flag) is not sent to a server")
        }
    }
}
