import CRMAdmin
import CRMProtocol
import Dispatch
import Foundation
import Synchronization

/// Runs commands for the operator: one, a script on stdin, or the REPL with
/// its `:` commands. Reconnects (with a notice) when the server dropped the
/// connection.
final class AdminShell {
    private let endpoint: Endpoint
    private var key: TenantKeyring.Key
    private let renderer: ReplyRenderer
    private let keysFile: String
    private let assist = CommandAssist()
    private let help = CommandHelp()
    private var connection: AdminConnection?
    /// Shown in the prompt after `:tenant NAME`.
    private var tenant: String?
    /// Secrets this session has used, kept out of the history file.
    private var secrets: [String]
    /// Whether push messages are printed (during `:monitor`).
    private let monitoring = Flag()
    /// Set in the REPL: commands may then ask the operator a question (save a new key?).
    private var interactive = false

    /// A flag set on one thread and read on another.
    private final class Flag: Sendable {
        let isSet = Atomic<Bool>(false)
    }

    init(endpoint: Endpoint, key: TenantKeyring.Key, mode: OutputMode, keysFile: String) throws {
        self.endpoint = endpoint
        self.key = key
        self.renderer = ReplyRenderer(mode: mode)
        self.keysFile = keysFile
        self.secrets = [key.secret]
        try connect()
    }

    // MARK: modes

    /// Runs one command; true unless it answered an error.
    func runOnce(_ words: [String]) -> Bool {
        run(words, timed: false)
    }

    /// Runs the lines of stdin in order; stops at the first error unless told to go on.
    func runScript(continueOnError: Bool) -> Bool {
        var succeeded = true
        while let line = readLine() {
            // Scripts keep blank lines and `#` comments for their readers; neither is a command.
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let ok = handle(line, timed: false) else { break }
            if !ok {
                succeeded = false
                if !continueOnError { break }
            }
        }
        return succeeded
    }

    /// The REPL.
    func interact(historyPath: String) {
        guard let editor = LineEditor(historyPath: historyPath, assist: assist) else {
            printError("cannot start the line editor")
            return
        }
        interactive = true
        print(
            "crmgate-admin connected to \(endpoint.host):\(endpoint.port) as \(key.id). HELP for help, :quit to leave.")
        while let line = editor.read(prompt: prompt) {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            editor.remember(HistoryRedaction.redact(line, known: secrets))
            editor.save(to: historyPath)
            if handle(line, timed: true) == nil { break }
        }
        editor.save(to: historyPath)
    }

    private var prompt: String {
        "\(endpoint.host):\(endpoint.port)\(tenant.map { "[\($0)]" } ?? "")> "
    }

    // MARK: one line

    /// Runs a line: nil to leave, else whether it succeeded.
    private func handle(_ line: String, timed: Bool) -> Bool? {
        guard let split = InlineCommandSplitter.split(Array(line.utf8)) else {
            printError("(error) unbalanced quotes in the line")
            return false
        }
        let words = split.map { String(decoding: $0, as: UTF8.self) }
        guard let first = words.first else { return true }
        switch first.lowercased() {
        case ":quit", "quit", "exit":
            return nil
        case ":tenant":
            return switchTenant(words)
        case ":watch":
            return watch(words)
        case ":monitor":
            return monitor(words)
        case ":key":
            return storeKey(words)
        case "clear" where words.count == 1:
            print("\u{1B}[H\u{1B}[2J", terminator: "")
            return true
        case "help" where words.count <= 2:
            return showHelp(words.count == 2 ? words[1] : nil)
        default:
            return run(words, timed: timed)
        }
    }

    @discardableResult
    private func run(_ words: [String], timed: Bool) -> Bool {
        let started = ContinuousClock.now
        guard let reply = send(words) else { return false }
        let elapsed = ContinuousClock.now - started
        var text = renderer.render(reply)
        if let message = reply.errorMessage, message.hasPrefix("ERR unknown command") {
            let close = assist.suggestions(for: words[0])
            if !close.isEmpty { text += "\n(did you mean \(close.joined(separator: ", "))?)" }
        }
        print(text)
        if interactive, words[0].uppercased() == "KEY.CREATE", words.count >= 2, let created = reply.elements,
            created.count == 2, let id = created[0].string, let secret = created[1].string
        {
            offerToStore(TenantKeyring.Key(id: id, secret: secret), tenant: words[1])
        }
        if timed, case .human(let color) = renderer.mode {
            let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
            let timing = String(format: "(%.1f ms)", milliseconds)
            print(color ? "\u{1B}[2m\(timing)\u{1B}[0m" : timing)
        }
        return reply.errorMessage == nil
    }

    /// Sends a command, reconnecting first if the server dropped the connection; nil if it could not.
    private func send(_ words: [String]) -> RESPValue? {
        if connection?.isActive != true {
            printError("-- connection to \(endpoint.host):\(endpoint.port) lost; reconnecting --")
            do {
                try connect()
            } catch {
                printError("(error) cannot reconnect: \(ConnectionProblem.explain(error, endpoint: endpoint))")
                return nil
            }
        }
        do {
            return try connection!.send(words)
        } catch {
            printError("(error) \(error); the command may not have run; it reconnects on the next command")
            return nil
        }
    }

    private func connect() throws {
        connection?.close()
        let monitoring = self.monitoring
        let renderer = self.renderer
        let connection = try AdminConnection.connect(to: endpoint) { push in
            guard monitoring.isSet.load(ordering: .relaxed) else { return }
            print(Self.describe(push, renderer: renderer))
            fflush(nil)
        }
        let hello = try connection.send(["HELLO", "3", "AUTH", key.id, key.secret, "SETNAME", "crmgate-admin"])
        if let error = hello.errorMessage {
            connection.close()
            throw AuthenticationFailed(message: error)
        }
        self.connection = connection
    }

    private struct AuthenticationFailed: Error, CustomStringConvertible {
        var message: String
        var description: String { "authentication failed: \(message)" }
    }

    // MARK: REPL commands

    private func switchTenant(_ words: [String]) -> Bool {
        guard words.count == 2 else {
            printError("usage: :tenant NAME (keys from \(keysFile))")
            return false
        }
        let keyring: TenantKeyring
        do {
            keyring = try TenantKeyring(path: keysFile)
        } catch {
            printError("(error) \(error)")
            return false
        }
        guard let tenantKey = keyring.keys[words[1]] else {
            printError("(error) no key for tenant \(words[1]) in \(keysFile)")
            return false
        }
        secrets.append(tenantKey.secret)
        guard let reply = send(["AUTH", tenantKey.id, tenantKey.secret]) else { return false }
        print(renderer.render(reply))
        guard reply.errorMessage == nil else { return false }
        key = tenantKey
        tenant = words[1]
        return true
    }

    private func watch(_ words: [String]) -> Bool {
        guard words.count >= 3, let seconds = Double(words[1]), seconds >= 0.1 else {
            printError("usage: :watch SECONDS command (SECONDS ≥ 0.1), e.g. :watch 2 INFO stats")
            return false
        }
        let command = Array(words.dropFirst(2))
        untilInterrupted { stopped in
            while !stopped() {
                print("-- \(ISO8601DateFormatter().string(from: Date())) every \(words[1]) s; Ctrl-C stops --")
                run(command, timed: false)
                let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
                while !stopped() && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
        return true
    }

    private func monitor(_ words: [String]) -> Bool {
        guard words.count == 2, ["reorders", "events"].contains(words[1].lowercased()) else {
            printError("usage: :monitor reorders|events")
            return false
        }
        guard let reply = send(["SUBSCRIBE", words[1].lowercased()]) else { return false }
        guard reply.errorMessage == nil else {
            FileHandle.standardError.write(Data((renderer.render(reply) + "\n").utf8))
            return false
        }
        print("-- following \(words[1].lowercased()); Ctrl-C stops --")
        monitoring.isSet.store(true, ordering: .relaxed)
        untilInterrupted { stopped in
            while !stopped() && connection?.isActive == true { Thread.sleep(forTimeInterval: 0.05) }
        }
        monitoring.isSet.store(false, ordering: .relaxed)
        _ = send(["UNSUBSCRIBE"])
        return true
    }

    /// `:key save TENANT KEY-ID`: stores a tenant key for `:tenant`, once the
    /// server accepts it. The secret is read without echo from a terminal, or
    /// as the next line of piped input; it never appears on the command line.
    private func storeKey(_ words: [String]) -> Bool {
        guard words.count == 4, words[1].lowercased() == "save" else {
            printError("usage: :key save TENANT KEY-ID (then type the secret; it is not echoed)")
            return false
        }
        guard let secret = Self.readSecret(prompt: "secret for \(words[3]): "), !secret.isEmpty else {
            printError("(error) no secret given; nothing stored")
            return false
        }
        let tenantKey = TenantKeyring.Key(id: words[3], secret: secret)
        secrets.append(secret)
        do {
            let check = try AdminConnection.connect(to: endpoint) { _ in }
            defer { check.close() }
            let reply = try check.send(["AUTH", tenantKey.id, tenantKey.secret])
            guard reply.errorMessage == nil else {
                printError("(error) the server refused this key (\(reply.errorMessage!)); nothing stored")
                return false
            }
        } catch {
            printError("(error) \(ConnectionProblem.explain(error, endpoint: endpoint)); nothing stored")
            return false
        }
        return store(tenantKey, tenant: words[2])
    }

    /// After `KEY.CREATE` in the REPL: offers to keep the new key for `:tenant`.
    private func offerToStore(_ newKey: TenantKeyring.Key, tenant: String) {
        secrets.append(newKey.secret)
        print("Save this key for :tenant \(tenant) in \(keysFile)? [y/N] ", terminator: "")
        fflush(nil)
        guard let answer = readLine(), answer.lowercased().hasPrefix("y") else { return }
        _ = store(newKey, tenant: tenant)
    }

    private func store(_ tenantKey: TenantKeyring.Key, tenant: String) -> Bool {
        do {
            try TenantKeyring.store(tenantKey, tenant: tenant, in: keysFile)
        } catch {
            printError("(error) \(error)")
            return false
        }
        print("stored the key \(tenantKey.id) for :tenant \(tenant) in \(keysFile)")
        return true
    }

    /// A line read with echo off if stdin is a terminal.
    private static func readSecret(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) != 0 else { return readLine() }
        // Echo off before the prompt shows: a secret typed (or pasted) at once is never echoed.
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        print(prompt, terminator: "")
        fflush(nil)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            print("")
        }
        return readLine()?.trimmingCharacters(in: .whitespaces)
    }

    private func showHelp(_ topic: String?) -> Bool {
        if let text = help.text(for: topic) {
            print(CommandHelp.wrap(text, width: LineEditor.terminalWidth))
            return true
        }
        let close = assist.suggestions(for: topic ?? "")
        printError(
            "no help for \(topic ?? "")" + (close.isEmpty ? "" : "; did you mean \(close.joined(separator: ", "))?"))
        return false
    }

    /// A pub/sub message as one line: the channel, then the event.
    private static func describe(_ push: RESPValue, renderer: ReplyRenderer) -> String {
        guard case .human = renderer.mode, let parts = push.elements, parts.count >= 3,
            let kind = parts[0].string, kind == "message" || kind == "pmessage"
        else { return renderer.render(push) }
        return "[\(parts[parts.count - 2].string ?? "")] \(parts[parts.count - 1].string ?? "")"
    }

    /// Set by the SIGINT handler while ``untilInterrupted(_:)`` runs.
    private static let interrupted = Atomic<Bool>(false)

    /// Runs `body` until Ctrl-C, which stops it instead of the program. The
    /// handler only sets a flag (all a signal handler may safely do).
    private func untilInterrupted(_ body: (() -> Bool) -> Void) {
        Self.interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in AdminShell.interrupted.store(true, ordering: .relaxed) }
        // A parent that started this program with SIGINT blocked would otherwise keep Ctrl-C pending.
        var interrupt = sigset_t()
        sigemptyset(&interrupt)
        sigaddset(&interrupt, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &interrupt, nil)
        body { Self.interrupted.load(ordering: .relaxed) }
        signal(SIGINT, SIG_DFL)
    }

    private func printError(_ text: String) {
        let colored: Bool
        if case .human(let color) = renderer.mode { colored = color } else { colored = false }
        FileHandle.standardError.write(Data(((colored ? "\u{1B}[31m\(text)\u{1B}[0m" : text) + "\n").utf8))
    }
}
