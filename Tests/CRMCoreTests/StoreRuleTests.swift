import CRMCore
import Testing

/// The rules both storage engines apply on writes: feed admission, the
/// reorder trigger, deal status from stage and ticket timestamps.
@Suite struct StoreRuleTests {
    @Test func feedsApplyEachNumberOnceAndNameTheGapsAJumpLeaves() {
        #expect(FeedAdmission(seq: 1, lastApplied: nil) == .apply(skipped: nil))
        #expect(FeedAdmission(seq: 4, lastApplied: nil) == .apply(skipped: 1...3))
        #expect(FeedAdmission(seq: 8, lastApplied: 7) == .apply(skipped: nil))
        #expect(FeedAdmission(seq: 10, lastApplied: 7) == .apply(skipped: 8...9))
        #expect(FeedAdmission(seq: 7, lastApplied: 7) == .duplicate)
        #expect(FeedAdmission(seq: 2, lastApplied: 7) == .duplicate)
    }

    @Test func aReorderOpensOnlyForAPartnerWithNoneOpenAndAsksTheStoreOnlyWhenDue() throws {
        let rule = try ReorderRule(minimum: 10, maximum: 50)
        var asked = 0
        func quantity(onHand: Int64?, stage: RelationshipStage?, open: Bool) -> Int64? {
            ReorderTrigger.quantity(
                rule: rule, onHand: onHand, onOrder: 0,
                stage: {
                    asked += 1
                    return stage
                }, hasOpenReorder: { open })
        }
        #expect(quantity(onHand: 5, stage: .partner, open: false) == 45)
        #expect(quantity(onHand: 5, stage: .transition, open: false) == nil)
        #expect(quantity(onHand: 5, stage: .partner, open: true) == nil)
        asked = 0
        #expect(quantity(onHand: 20, stage: .partner, open: false) == nil)
        #expect(quantity(onHand: nil, stage: .partner, open: false) == nil, "an unreported level orders nothing")
        #expect(asked == 0, "a position at or above MIN costs no lookup")
        #expect(
            ReorderTrigger.quantity(rule: nil, onHand: 0, onOrder: 0, stage: { .partner }, hasOpenReorder: { false })
                == nil)
    }

    @Test func aDealsStatusAndCloseTimeFollowItsStage() throws {
        let pipeline = Pipeline.standard
        var changes = FieldChanges()
        try pipeline.move(to: pipeline.wonStage, wasStatus: .open, now: "T1", into: &changes)
        #expect(changes["status"] == .some("won"))
        #expect(changes["closed_at"] == .some("T1"))
        var reopened = FieldChanges()
        try pipeline.move(to: pipeline.stages[0].name, wasStatus: .lost, now: "T2", into: &reopened)
        #expect(reopened["status"] == .some("open"))
        #expect(reopened["closed_at"] == .some(nil))
        #expect(reopened["lost_reason"] == .some(nil))
        var lost = FieldChanges()
        #expect(throws: InvalidField.self) {
            try pipeline.move(to: pipeline.lostStage, wasStatus: .open, now: "T3", into: &lost)
        }
        #expect(throws: InvalidField.self) { try pipeline.move(to: "nowhere", wasStatus: nil, now: "T3", into: &lost) }
    }

    @Test func aTicketsStampsRecordItsFirstResponseAndResolution() {
        var opened = FieldChanges()
        TicketStatus.open.stamp(from: .new, responded: nil, resolved: nil, now: "T1", into: &opened)
        #expect(opened["first_response_at"] == .some("T1"))
        #expect(opened["resolved_at"] == nil)
        var resolved = FieldChanges()
        TicketStatus.resolved.stamp(from: .open, responded: "T1", resolved: nil, now: "T2", into: &resolved)
        #expect(resolved["first_response_at"] == nil, "the first response is kept")
        #expect(resolved["resolved_at"] == .some("T2"))
        var reopened = FieldChanges()
        TicketStatus.open.stamp(from: .resolved, responded: "T1", resolved: "T2", now: "T3", into: &reopened)
        #expect(reopened["resolved_at"] == .some(nil))
    }
}
