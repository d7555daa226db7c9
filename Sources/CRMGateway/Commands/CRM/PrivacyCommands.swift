import CRMCore
import CRMProtocol
import CRMStore

/// Data-subject requests: a contact's export and its erasure.
enum PrivacyCommands {
    static let handlers: [String: CommandHandler] = ["CONTACT.EXPORT": export, "CONTACT.FORGET": forget]

    static func export(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        return try invocation.read(mayTakeLong: true) { .bulk(try $0.privacy.export(contact: id)) }
    }

    /// `CONTACT.FORGET id CONFIRM id`: the id is repeated so a slip cannot erase someone.
    static func forget(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        guard try invocation.text(2).uppercased() == "CONFIRM", try invocation.text(3) == String(id) else {
            throw CommandError.syntax("syntax error: repeat the id as CONTACT.FORGET \(id) CONFIRM \(id)")
        }
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.privacy.forget(contact: id, actor: actor)
            return .ok
        }
    }
}
