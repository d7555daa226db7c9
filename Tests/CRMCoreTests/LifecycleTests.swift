import CRMCore
import Testing

@Suite struct LifecycleTests {
    @Test func movesForward() throws {
        try Lifecycle.checkMove(from: .lead, to: .customer, force: false)
        try Lifecycle.checkMove(from: nil, to: .evangelist, force: false)
        try Lifecycle.checkMove(from: .lead, to: .lead, force: false)
    }

    @Test func refusesBackwardsUnlessForced() throws {
        #expect(throws: InvalidField("lifecycle", "cannot move back from customer to lead (add FORCE to reset it)")) {
            try Lifecycle.checkMove(from: .customer, to: .lead, force: false)
        }
        try Lifecycle.checkMove(from: .customer, to: .lead, force: true)
    }

    @Test func otherStandsOutsideTheSequence() throws {
        try Lifecycle.checkMove(from: .evangelist, to: .other, force: false)
        try Lifecycle.checkMove(from: .other, to: .subscriber, force: false)
    }
}
