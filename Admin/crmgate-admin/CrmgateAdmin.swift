import ArgumentParser
import CRMAdmin
import Foundation

/// `crmgate-admin`: the operator's REPL and scripting client for crmgate.
@main
struct CrmgateAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmgate-admin",
        abstract: "Interactive admin shell and scripting client for crmgate (TLS, RESP3).",
        discussion: """
            With a command, runs it and exits 0, or 1 on an error reply. With commands on stdin, runs them \
            in order and stops at the first error unless --continue. Otherwise starts the REPL (HELP for help).
            The key is --key-id with --secret or CRMGATE_KEY (the secret, or "id secret"), or --key-file; \
            by default ./crmgate-data/admin.key, next to a local `swift run crmgate`.
            """)

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server TLS port.") var port = 7379
    @Option(help: "CA certificate (PEM) that signed the server certificate.") var cacert = "./crmgate-data/tls/ca.pem"
    @Flag(help: "Do not verify the server certificate (development only).") var insecure = false
    @Option(name: .customLong("key-file"), help: "A file holding `key-id secret`.") var keyFile: String?
    @Option(name: .customLong("key-id"), help: "Key id; the secret comes from --secret or CRMGATE_KEY.") var keyID:
        String?
    @Option(help: "Key secret (prefer CRMGATE_KEY: arguments are visible to other users).") var secret: String?
    @Option(name: .customLong("keys-file"), help: "Tenant keys for :tenant, `tenant key-id secret` lines, mode 0600.")
    var keysFile = "~/.crmgate_keys"
    @Flag(help: "Print every reply as JSON.") var json = false
    @Flag(help: "Print replies as redis-cli --raw does.") var raw = false
    @Flag(name: .customLong("continue"), help: "With commands on stdin, go on after an error reply.")
    var continueOnError = false
    @Argument(parsing: .captureForPassthrough, help: "A command to run instead of the REPL.") var command: [String] =
        []

    func validate() throws {
        // The passthrough argument takes everything after the options, --help and -h included.
        if let first = command.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
        if json && raw { throw ValidationError("--json and --raw exclude each other") }
    }

    func run() throws {
        let endpoint = Endpoint(host: host, port: port, caPath: insecure ? nil : cacert, insecure: insecure)
        let shell: AdminShell
        do {
            shell = try AdminShell(
                endpoint: endpoint, key: try credentials(), mode: outputMode, keysFile: Self.expandingHome(keysFile))
        } catch let error as ValidationError {
            throw error
        } catch {
            // One line saying what failed and what to check, not NIO's error text.
            FileHandle.standardError.write(
                Data("crmgate-admin: \(ConnectionProblem.explain(error, endpoint: endpoint))\n".utf8))
            throw ExitCode.failure
        }
        if !command.isEmpty {
            throw ExitCode(shell.runOnce(command) ? 0 : 1)
        }
        if isatty(STDIN_FILENO) == 0 {
            throw ExitCode(shell.runScript(continueOnError: continueOnError) ? 0 : 1)
        }
        shell.interact(historyPath: Self.expandingHome("~/.crmgate_history"))
    }

    /// `~/` as `$HOME`, as shells expand it.
    private static func expandingHome(_ path: String) -> String {
        guard path.hasPrefix("~/") else { return path }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + path.dropFirst(1)
    }

    private var outputMode: OutputMode {
        if json { return .json }
        if raw { return .raw }
        let color = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        return .human(color: color)
    }

    private func credentials() throws -> TenantKeyring.Key {
        let environment = ProcessInfo.processInfo.environment["CRMGATE_KEY"]?.split(separator: " ").map(String.init)
        if let keyID {
            guard let secret = secret ?? environment?.last else {
                throw ValidationError("--key-id needs --secret or the secret in CRMGATE_KEY")
            }
            return TenantKeyring.Key(id: keyID, secret: secret)
        }
        if let environment, environment.count == 2 {
            return TenantKeyring.Key(id: environment[0], secret: environment[1])
        }
        let path = keyFile ?? "./crmgate-data/admin.key"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("no key: give --key-file, --key-id with CRMGATE_KEY, or run next to ./crmgate-data")
        }
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 2 else { throw ValidationError("\(path): expected `key-id secret`") }
        return TenantKeyring.Key(id: words[0], secret: words[1])
    }
}
