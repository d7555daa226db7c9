import CRMProtocol
import Foundation
import Synchronization

/// Redis's slow log: the most recent commands that took longer than the
/// threshold, with their arguments (cut short, secrets redacted) and client.
final class SlowLog: Sendable {
    struct Entry: Sendable {
        var id: Int
        var unixSeconds: Int
        var microseconds: Int
        var arguments: [String]
        var client: String
        var clientName: String
        /// The key's tenant and id (empty before AUTH), so an operator can tell whose command was slow.
        var tenant: String
        var keyID: String
    }

    private struct State {
        var entries: [Entry] = []
        var nextID = 0
    }

    /// Commands at least this slow are logged; negative turns the log off.
    let thresholdMicroseconds: Int
    let maxLength: Int
    private let state = Mutex(State())

    init(thresholdMicroseconds: Int, maxLength: Int) {
        self.thresholdMicroseconds = thresholdMicroseconds
        self.maxLength = maxLength
    }

    func consider(_ command: RESPCommand, microseconds: Int, client: ClientInfo) {
        guard thresholdMicroseconds >= 0, microseconds >= thresholdMicroseconds, maxLength > 0 else { return }
        let details = client.details.withLock { $0 }
        let entry = Entry(
            id: 0, unixSeconds: Int(Date().timeIntervalSince1970), microseconds: microseconds,
            arguments: Self.shown(command), client: client.address, clientName: details.name ?? "",
            tenant: details.tenant ?? "", keyID: details.keyID ?? "")
        state.withLock { state in
            var numbered = entry
            numbered.id = state.nextID
            state.nextID += 1
            state.entries.insert(numbered, at: 0)
            if state.entries.count > maxLength { state.entries.removeLast(state.entries.count - maxLength) }
        }
    }

    /// The newest `count` entries, newest first.
    func newest(_ count: Int) -> [Entry] {
        state.withLock { Array($0.entries.prefix(count)) }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func reset() {
        state.withLock { $0.entries.removeAll() }
    }

    /// Groups whose arguments are the server's own words (options, tenant
    /// names, key ids), never a tenant's field values.
    private static let groupsShownInFull: Set = ["connection", "server", "tenant", "key", "transactions"]

    /// At most 32 arguments of at most 128 bytes, as Redis shows them. AUTH
    /// and HELLO … AUTH credentials are never kept, and the arguments of CRM
    /// commands (anything a tenant's data could be in) only as their sizes:
    /// operators see command names, timings and sizes, no CRM data.
    static func shown(_ command: RESPCommand) -> [String] {
        let inFull = CommandTable.standard[command.name].map { groupsShownInFull.contains($0.group) } ?? false
        var words = command.arguments.prefix(32).enumerated().map { index, argument -> String in
            guard index == 0 || inFull else { return "(\(argument.readableBytes) bytes)" }
            let text = String(decoding: argument.readableBytesView.prefix(128), as: UTF8.self)
            let cut = argument.readableBytes - 128
            return cut > 0 ? text + "... (\(cut) more bytes)" : text
        }
        if command.name == "AUTH" {
            words = [words[0]] + words.dropFirst().map { _ in "(redacted)" }
        } else if command.name == "HELLO", let auth = words.firstIndex(where: { $0.uppercased() == "AUTH" }) {
            for index in words.indices where index > auth && index <= auth + 2 { words[index] = "(redacted)" }
        }
        if command.arguments.count > 32 { words[31] = "... (\(command.arguments.count - 31) more arguments)" }
        return words
    }
}
