import CRMCore
import Testing

@Suite struct RelationshipStageTests {
    static let allowed: Set<String> = [
        "transaction>transition", "transition>partner", "partner>transition", "transition>transaction",
        "transaction>conflict", "transition>conflict", "partner>conflict", "conflict>transaction",
    ]

    @Test func onlyTheDesignedMovesAreAllowed() {
        for from in RelationshipStage.allCases {
            for to in RelationshipStage.allCases where to != from {
                let isAllowed = Self.allowed.contains("\(from.rawValue)>\(to.rawValue)")
                #expect(((try? from.checkMove(to: to)) != nil) == isAllowed, "\(from) -> \(to)")
            }
        }
    }

    @Test func aRefusedMoveNamesTheAllowedOnes() {
        #expect(throws: InvalidField("stage", "cannot move from transaction to partner; allowed: transition, conflict"))
        {
            try RelationshipStage.transaction.checkMove(to: .partner)
        }
        #expect(throws: InvalidField("stage", "cannot move from conflict to partner; allowed: transaction")) {
            try RelationshipStage.conflict.checkMove(to: .partner)
        }
        #expect(throws: InvalidField("stage", "is already partner")) {
            try RelationshipStage.partner.checkMove(to: .partner)
        }
    }

    @Test(arguments: [
        (RelationshipScores(trust: 20, commitment: 90, interdependence: 80, norms: 90), RelationshipStage.conflict),
        (RelationshipScores(trust: 90, commitment: 90, interdependence: 60, norms: 20), .conflict),
        (RelationshipScores(trust: 70, commitment: 70, interdependence: 70, norms: 70), .partner),
        (RelationshipScores(trust: 69, commitment: 90, interdependence: 90, norms: 90), .transition),
        (RelationshipScores(trust: 50, commitment: 50, interdependence: 10, norms: 10), .transition),
        (RelationshipScores(trust: 20, commitment: 90, interdependence: 49, norms: 90), .transaction),
        (RelationshipScores(trust: 0, commitment: 0, interdependence: 0, norms: 0), .transaction),
    ])
    func scoresSuggestAStage(scores: RelationshipScores, stage: RelationshipStage) {
        #expect(scores.suggestion.stage == stage)
    }
}

@Suite struct PipelineTests {
    @Test func theLastTwoStagesCloseTheDeal() throws {
        let pipeline = try Pipeline(
            name: "enterprise",
            stages: [
                .init(name: "demo", probability: 30), .init(name: "signed", probability: 100),
                .init(name: "dropped", probability: 0),
            ])
        #expect(pipeline.wonStage == "signed")
        #expect(pipeline.lostStage == "dropped")
        #expect(pipeline.status(at: "demo") == .open)
        #expect(pipeline.status(at: "signed") == .won)
        #expect(pipeline.status(at: "dropped") == .lost)
        #expect(Pipeline.standard.wonStage == "won")
    }

    @Test func badDefinitionsAreRefusedNamingTheProblem() {
        let open = Pipeline.Stage(name: "demo", probability: 30)
        let won = Pipeline.Stage(name: "won", probability: 100)
        let lost = Pipeline.Stage(name: "lost", probability: 0)
        #expect(throws: InvalidField("stages", "give 3 to 32 stages: open ones, then won, then lost")) {
            try Pipeline(name: "p", stages: [won, lost])
        }
        #expect(throws: InvalidField("lost", "the second-last stage is the won stage: probability 100")) {
            try Pipeline(name: "p", stages: [open, lost, won])
        }
        #expect(throws: InvalidField("demo", "stage named twice")) {
            try Pipeline(name: "p", stages: [open, open, won, lost])
        }
        #expect(throws: InvalidField("demo", "probability must be from 0 to 100")) {
            try Pipeline(name: "p", stages: [.init(name: "demo", probability: 101), won, lost])
        }
        #expect(throws: InvalidField("name", "use 1-64 of a-z 0-9 _ -")) {
            try Pipeline(name: "Big Deals", stages: [open, won, lost])
        }
    }
}

@Suite struct CalendarTests {
    @Test func datesAreRealDays() {
        #expect(CalendarDate("2024-02-29") != nil)
        #expect(CalendarDate("2023-02-29") == nil)
        #expect(CalendarDate("2026-13-01") == nil)
        #expect(CalendarDate("2026-1-01") == nil)
        #expect(CalendarDate("2026-12-15")!.firstOfMonth(adding: 1) == (year: 2027, month: 1))
    }

    @Test func timestampsRoundTrip() {
        for milliseconds: Int64 in [0, 1_795_000_000_123, 951_782_400_000, 4_102_444_799_999] {
            let text = Timestamp.iso8601(milliseconds: milliseconds)
            #expect(Timestamp.milliseconds(text) == milliseconds, "\(text)")
        }
        #expect(Timestamp.adding(minutes: 90, to: "2026-11-24T23:00:00.000Z") == "2026-11-25T00:30:00.000Z")
        #expect(Timestamp.milliseconds("2026-11-24 23:00:00") == nil)
    }

    @Test func fieldKindsValidate() throws {
        let deal = RecordSchema.deal
        let changes = try deal.validate([("amount", "1250000"), ("currency", "eur"), ("close_date", "2026-12-15")])
        #expect(changes["currency"] == "EUR")
        #expect(throws: InvalidField("currency", "must be an ISO 4217 currency code such as EUR or USD")) {
            try deal.validate([("currency", "EURO")])
        }
        #expect(throws: InvalidField("amount", "must be an integer from 0 to 1000000000000000")) {
            try deal.validate([("amount", "-5")])
        }
        #expect(throws: InvalidField("close_date", "must be a date as YYYY-MM-DD")) {
            try deal.validate([("close_date", "15.12.2026")])
        }
        #expect(throws: InvalidField("status", "is set by DEAL.MOVE, DEAL.WIN or DEAL.LOSE")) {
            try deal.validate([("status", "won")])
        }
        #expect(throws: InvalidField("trust", "must be an integer from 0 to 100")) {
            try RecordSchema.company.validate([("trust", "101")])
        }
        #expect(throws: InvalidField("company", "must be the id of a company")) {
            try RecordSchema.contact.validate([("company", "acme")])
        }
    }
}
