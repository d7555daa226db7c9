import CRMCore
import CRMProtocol
import CRMStore

/// Companies' relationship stages: moving them, their history and the suggested next stage.
enum CompanyStageCommands {
    static let handlers: [String: CommandHandler] = [
        "COMPANY.STAGE": stage, "COMPANY.HISTORY": history, "COMPANY.SUGGEST": suggest,
    ]

    /// `COMPANY.STAGE id stage REASON text`: replies with the stage the company left.
    static func stage(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let stage = try RecordCommands.choice(invocation, 2, "stage", as: RelationshipStage.self)
        let reason = try RecordCommands.reasonArgument(invocation, at: 3)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            .bulk(try transaction.relations.move(company: id, to: stage, reason: reason, actor: actor))
        }
    }

    static func history(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        return try invocation.read { transaction in
            .array(
                try transaction.relations.history(company: id).map { move in
                    .map([
                        (.bulk("from"), move.from.map(RESPValue.bulk) ?? .null), (.bulk("to"), .bulk(move.to)),
                        (.bulk("reason"), .bulk(move.reason)),
                        (.bulk("key_id"), move.keyID.map(RESPValue.bulk) ?? .null),
                        (.bulk("at"), .bulk(move.at)),
                    ])
                })
        }
    }

    static func suggest(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        return try invocation.read { transaction in
            let suggestion = try transaction.relations.suggest(company: id)
            let scores = suggestion.scores
            return .map([
                (.bulk("stage"), .bulk(suggestion.suggested)), (.bulk("current"), .bulk(suggestion.current)),
                (.bulk("rule"), .bulk(suggestion.rule)), (.bulk("trust"), .integer(scores.trust)),
                (.bulk("commitment"), .integer(scores.commitment)),
                (.bulk("interdependence"), .integer(scores.interdependence)), (.bulk("norms"), .integer(scores.norms)),
                (.bulk("unscored"), .array(suggestion.unscored.map(RESPValue.bulk))),
            ])
        }
    }
}
