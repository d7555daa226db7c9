import CRMCore
import CRMProtocol
import CRMStore

/// Sales pipelines and the deal workflow.
enum DealCommands {
    static let handlers: [String: CommandHandler] = [
        "PIPELINE.SET": setPipeline, "PIPELINE.GET": getPipeline, "PIPELINE.LIST": listPipelines,
        "DEAL.MOVE": move, "DEAL.WIN": win, "DEAL.LOSE": lose,
    ]

    /// `PIPELINE.SET name stage probability [stage probability ...]`
    static func setPipeline(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try invocation.text(1).lowercased()
        let words = try invocation.texts(from: 2)
        guard words.count.isMultiple(of: 2) else {
            throw InvalidField("stages", "give stage probability pairs")
        }
        var stages: [Pipeline.Stage] = []
        for index in stride(from: 0, to: words.count, by: 2) {
            guard let probability = Int(words[index + 1]) else {
                throw InvalidField(words[index], "probability must be an integer from 0 to 100")
            }
            stages.append(Pipeline.Stage(name: words[index].lowercased(), probability: probability))
        }
        let pipeline = try Pipeline(name: name, stages: stages)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.pipelines.set(pipeline, actor: actor)
            return .ok
        }
    }

    static func getPipeline(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try invocation.text(1).lowercased()
        return try invocation.read { transaction in
            guard let pipeline = try transaction.pipelines.get(name) else {
                throw StoreError.notFound("no such pipeline")
            }
            return reply(pipeline)
        }
    }

    static func listPipelines(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try invocation.read { .array(try $0.pipelines.list().map(reply)) }
    }

    static func reply(_ pipeline: Pipeline) -> RESPValue {
        .map([
            (.bulk("name"), .bulk(pipeline.name)),
            (.bulk("stages"), .map(pipeline.stages.map { (.bulk($0.name), .integer($0.probability)) })),
            (.bulk("won"), .bulk(pipeline.wonStage)), (.bulk("lost"), .bulk(pipeline.lostStage)),
        ])
    }

    static func move(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let stage = try invocation.text(2).lowercased()
        let actor = invocation.session.key?.id
        return try invocation.write { .integer(Int(try $0.dealFlow.move(deal: id, to: stage, actor: actor))) }
    }

    static func win(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let actor = invocation.session.key?.id
        return try invocation.write { .integer(Int(try $0.dealFlow.win(deal: id, actor: actor))) }
    }

    static func lose(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let reason = try RecordCommands.reasonArgument(invocation, at: 2)
        let actor = invocation.session.key?.id
        return try invocation.write { .integer(Int(try $0.dealFlow.lose(deal: id, reason: reason, actor: actor))) }
    }
}
