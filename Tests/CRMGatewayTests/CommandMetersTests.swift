import CRMProtocol
import NIOEmbedded
import Testing

@testable import CRMGateway

/// Per-event-loop command counting: each loop's shard is its own, readers see the sum.
@Suite struct CommandMetersTests {
    @Test func theHistogramHasABucketPerBoundInAscendingOrder() {
        #expect(CommandMeters.Tally().buckets.count == CommandMeters.bucketBounds.count)
        let bounds = CommandMeters.bucketBounds.indices.map { CommandMeters.bucketBounds[$0] }
        #expect(bounds == bounds.sorted() && Set(bounds).count == bounds.count, "bounds ascend")
    }

    @Test func shardsOfTwoEventLoopsAddUpInCommandStatsAndTheExposition() throws {
        let meters = CommandMeters(names: ["CONTACT.GET", "CLIENT LIST"])
        let first = EmbeddedEventLoop()
        let second = EmbeddedEventLoop()
        let firstShard = meters.shard(for: first)
        #expect(meters.shard(for: first) === firstShard, "one shard per event loop")
        let secondShard = meters.shard(for: second)
        #expect(secondShard !== firstShard)

        let contactGet = RESPCommand(["CONTACT.GET", "1"])
        meters.tally(for: contactGet, in: firstShard).add(microseconds: 80, failed: false)
        meters.tally(for: contactGet, in: firstShard).add(microseconds: 300, failed: true)
        meters.tally(for: contactGet, in: secondShard).add(microseconds: 2_000_000, failed: false)
        // A name not in the table counts as unknown.
        meters.tally(for: RESPCommand(["NO.SUCH"]), in: secondShard).add(microseconds: 5, failed: true)

        #expect(meters.answered == 4, "every command of every shard, unknown ones too")
        let totals = Dictionary(uniqueKeysWithValues: meters.totals().map { ($0.name, $0.totals) })
        #expect(Set(totals.keys) == ["CONTACT.GET", CommandMeters.unknown], "only commands that ran")
        let get = try #require(totals["CONTACT.GET"])
        #expect(get.calls == 3 && get.failed == 1 && get.microseconds == 2_000_380)
        #expect(get.buckets == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "<=100us, <=500us, over 1s")

        let exposition = String(decoding: meters.exposition(), as: UTF8.self).split(separator: "\n").map(String.init)
        for line in [
            #"crmgate_commands_total{command="contact.get",result="ok"} 2"#,
            #"crmgate_commands_total{command="contact.get",result="error"} 1"#,
            #"crmgate_commands_total{command="unknown",result="error"} 1"#,
            #"crmgate_command_duration_seconds_bucket{command="contact.get",le="0.0001"} 1"#,
            #"crmgate_command_duration_seconds_bucket{command="contact.get",le="0.00025"} 1"#,
            #"crmgate_command_duration_seconds_bucket{command="contact.get",le="0.0005"} 2"#,
            #"crmgate_command_duration_seconds_bucket{command="contact.get",le="1.0"} 2"#,
            #"crmgate_command_duration_seconds_bucket{command="contact.get",le="+Inf"} 3"#,
            #"crmgate_command_duration_seconds_sum{command="contact.get"} 2.00038"#,
            #"crmgate_command_duration_seconds_count{command="contact.get"} 3"#,
        ] {
            #expect(exposition.contains(line), "exposition lacks \(line)")
        }
        #expect(exposition.filter { $0.hasPrefix("# TYPE") }.count == 2)
        #expect(!exposition.contains { $0.contains("client list") }, "a command that never ran is not shown")
        try first.syncShutdownGracefully()
        try second.syncShutdownGracefully()
    }
}
