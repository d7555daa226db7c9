import CRMCore
import CRMProtocol
import CRMStore

/// Value analytics (tiers, top companies, forecasts) and the cost rates they use.
enum AnalyticsCommands {
    static let handlers: [String: CommandHandler] = [
        "ANALYTICS.TIERS": tiers, "ANALYTICS.TOP": top, "ANALYTICS.FORECAST": forecast, "COST.SET": setCosts,
        "COST.GET": costs,
    ]

    static func tiers(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            let counts = try transaction.analytics.assignTiers(actor: actor)
            return .map([
                (.bulk("A"), .integer(Int(counts.a))), (.bulk("B"), .integer(Int(counts.b))),
                (.bulk("C"), .integer(Int(counts.c))), (.bulk("revenue"), .integer(Int(counts.revenue))),
                (.bulk("window_days"), .integer(Int(CustomerValue.windowDays))),
            ])
        }
    }

    /// `ANALYTICS.TOP companies BY revenue|cost|margin [LIMIT n] [ASC|DESC]`
    static func top(_ invocation: CommandInvocation) throws -> CommandOutcome {
        guard try invocation.text(1).lowercased() == "companies", try invocation.text(2).uppercased() == "BY" else {
            throw CommandError.syntax("syntax error: expected ANALYTICS.TOP companies BY revenue|cost|margin")
        }
        let measure = try RecordCommands.choice(invocation, 3, "BY", as: CustomerValue.Measure.self)
        let options = try OptionArguments(invocation.texts(from: 4), tokens: ["LIMIT": 1, "ASC": 0, "DESC": 0])
        let limit = try options.integer("LIMIT", in: 1...1000, default: 10)
        let ascending = options.has("ASC")
        return try invocation.read(mayTakeLong: true) { transaction in
            .array(
                try transaction.analytics.top(by: measure, limit: limit, ascending: ascending).map { value in
                    .map([
                        (.bulk("company"), .integer(Int(value.company))),
                        (.bulk("name"), value.name.map(RESPValue.bulk) ?? .null),
                        (.bulk("tier"), value.tier.map(RESPValue.bulk) ?? .null),
                        (.bulk("revenue"), .integer(Int(value.revenue))), (.bulk("cost"), .integer(Int(value.cost))),
                        (.bulk("margin"), .integer(Int(value.margin))),
                    ])
                })
        }
    }

    /// `ANALYTICS.FORECAST [PIPELINE p] [MONTHS n]`
    static func forecast(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let options = try OptionArguments(invocation.texts(from: 1), tokens: ["PIPELINE": 1, "MONTHS": 1])
        let months = try options.integer("MONTHS", in: 1...36, default: 6)
        let pipeline = options.value("PIPELINE")?.lowercased()
        return try invocation.read(mayTakeLong: true) { transaction in
            .array(
                try transaction.analytics.forecast(pipeline: pipeline, months: months).map { month in
                    .map([
                        (.bulk("month"), .bulk(month.month)), (.bulk("deals"), .integer(Int(month.deals))),
                        (.bulk("amount"), .integer(Int(month.amount))),
                        (.bulk("weighted"), .integer(Int(month.weighted))),
                    ])
                })
        }
    }

    /// `COST.SET item amount [item amount ...]` with items `ticket` and `activity`.
    static func setCosts(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let words = try invocation.texts(from: 1)
        guard words.count.isMultiple(of: 2) else { throw InvalidField("COST.SET", "give item amount pairs") }
        let rates = try stride(from: 0, to: words.count, by: 2).map { index throws(InvalidField) in
            guard let item = CustomerValue.CostItem(rawValue: words[index].lowercased()) else {
                throw InvalidField(words[index], "must be one of ticket, activity")
            }
            guard let amount = Int64(words[index + 1]), (0...1_000_000_000).contains(amount) else {
                throw InvalidField(words[index], "amount must be an integer from 0 to 1000000000 (minor units)")
            }
            return (item, amount)
        }
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.analytics.setCostRates(rates, actor: actor)
            return .ok
        }
    }

    static func costs(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try invocation.read(mayTakeLong: true) { transaction in
            let rates = try transaction.analytics.costRates()
            return .map(CustomerValue.CostItem.allCases.map { (.bulk($0.rawValue), .integer(Int(rates[$0] ?? 0))) })
        }
    }
}
