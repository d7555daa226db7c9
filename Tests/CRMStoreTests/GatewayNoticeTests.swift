import CRMCore
import Testing

@testable import CRMStore

/// The messages gateways sharing a PostgreSQL send each other on their
/// channel: read back as sent, and nothing else taken for one.
@Suite struct GatewayNoticeTests {
    @Test func aChangeNoticeReadsBackAsSent() throws {
        let keys: Set = [RecordCache.Key(type: .contact, id: 7), RecordCache.Key(type: .deal, id: 12)]
        for records in [RecordChanges.all, .some(keys), .none] {
            let notice = PostgresChangeNotice(origin: "g1", number: 42, tenant: "acme", newestSeq: 9, records: records)
            #expect(PostgresChangeNotice(payload: notice.payload) == notice)
        }
    }

    @Test func aNoticeNamingTooManyRecordsMeansAllOfThem() throws {
        let keys = Set((1...2000).map { RecordCache.Key(type: .contact, id: Int64($0)) })
        let notice = PostgresChangeNotice(origin: "g1", number: 1, tenant: "acme", newestSeq: 1, records: .some(keys))
        #expect(notice.payload.utf8.count <= PostgresChangeNotice.maxPayload)
        #expect(PostgresChangeNotice(payload: notice.payload)?.records == .all)
    }

    @Test func beatsCarryTheirAcknowledgementsSplitWithinThePayloadLimit() throws {
        let acknowledgements = (1...1000).map { PostgresBeat.Acknowledgement(origin: "peer", number: $0) }
        let beats = PostgresBeat.split(origin: "g1", firstNumber: 5, leasing: true, acknowledgements: acknowledgements)
        #expect(beats.count > 1)
        #expect(beats.map(\.number) == Array(5..<(5 + beats.count)))
        #expect(beats.allSatisfy { $0.payload.utf8.count <= PostgresChangeNotice.maxPayload })
        #expect(beats.flatMap { PostgresBeat(payload: $0.payload)?.acknowledgements ?? [] } == acknowledgements)
        #expect(beats.allSatisfy { PostgresBeat(payload: $0.payload)?.leasing == true })
        let acknowledging = PostgresBeat(origin: "g1", number: 1, leasing: false, acknowledgements: [])
        #expect(PostgresBeat(payload: acknowledging.payload) == acknowledging)
    }

    @Test func withdrawalsReadBackAndForeignPayloadsAreIgnored() throws {
        let acme = try TenantName("acme")
        for withdrawal in [AccessWithdrawal.keyRevoked(id: "k_1"), .tenantSuspended(acme), .tenantDropped(acme)] {
            let parsed = AccessWithdrawal.parse(withdrawal.payload(origin: "g2"))
            #expect(parsed?.origin == "g2")
            #expect(parsed?.withdrawal == withdrawal)
        }
        for foreign in [
            "", "hello", "c g1 x acme 1 *", "b g1 2 L peer:x", "b g1 2 X ", "a g1 dropped Not A Name",
            "c g1 1 acme 1 nope:1",
        ] {
            #expect(PostgresChangeNotice(payload: foreign) == nil, "\(foreign)")
            #expect(PostgresBeat(payload: foreign) == nil, "\(foreign)")
            #expect(AccessWithdrawal.parse(foreign) == nil, "\(foreign)")
        }
    }
}
