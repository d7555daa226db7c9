import CRMCore
import Testing

@Suite struct ReorderRuleTests {
    @Test(
        arguments: [
            // min, max, multiple, on hand, on order, expected
            (10, 50, 1, 9, 0, Int64?.some(41)),
            (10, 50, 1, 10, 0, nil),
            (10, 50, 1, 5, 5, nil),
            (10, 50, 12, 9, 0, 48),
            (10, 50, 12, 2, 0, 48),
            (10, 50, 12, 1, 0, 60),
            (10, 10, 1, 9, 0, 1),
            (10, 10, 5, 9, 0, 5),
            (10, 50, 1, -20, 0, 70),
            (10, 50, 25, -20, 5, 75),
            (0, 0, 1, -1, 0, 1),
            (0, 0, 1, 0, 0, nil),
        ] as [(Int64, Int64, Int64, Int64, Int64, Int64?)])
    func ordersUpToMaxInMultiplesWhenBelowMin(
        min: Int64, max: Int64, multiple: Int64, onHand: Int64, onOrder: Int64, expected: Int64?
    ) throws {
        let rule = try ReorderRule(minimum: min, maximum: max, multiple: multiple)
        #expect(rule.quantity(onHand: onHand, onOrder: onOrder) == expected)
    }

    @Test func badRulesAreRefused() {
        #expect(throws: InvalidField("MAX", "must be at least MIN (10) and at most 1000000000")) {
            try ReorderRule(minimum: 10, maximum: 5)
        }
        #expect(throws: InvalidField("MIN", "must be an integer from 0 to 1000000000")) {
            try ReorderRule(minimum: -1, maximum: 5)
        }
        #expect(throws: InvalidField("MULTIPLE", "must be an integer from 1 to 1000000000")) {
            try ReorderRule(minimum: 1, maximum: 5, multiple: 0)
        }
        #expect(throws: InvalidField("sku", "use 1-64 characters without spaces or control characters")) {
            try SKU.validated("A 1")
        }
    }
}
