import CRMProtocol
import Foundation
import Testing

/// Tickets, SLA due times and the breach flag, end to end over TLS.
@Suite struct TicketTests {
    @Test func dueTimesComeFromTheTenantsPolicy() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let levels = try await client.send("SLA.GET")
        #expect(
            levels
                == .array([
                    .bulk("low"),
                    .array([.bulk("first_response_minutes"), .integer(1440), .bulk("resolve_minutes"), .integer(10080)]
                    ),
                    .bulk("normal"),
                    .array([.bulk("first_response_minutes"), .integer(480), .bulk("resolve_minutes"), .integer(4320)]),
                    .bulk("high"),
                    .array([.bulk("first_response_minutes"), .integer(240), .bulk("resolve_minutes"), .integer(1440)]),
                    .bulk("urgent"),
                    .array([.bulk("first_response_minutes"), .integer(60), .bulk("resolve_minutes"), .integer(240)]),
                ]))
        try await client.send("TICKET.ADD", "subject", "EDI feed rejected", "priority", "high")
        var ticket = try await client.send("TICKET.GET", "1").fields
        #expect(ticket["status"] == "new")
        #expect(ticket["sla_breached"] == "0")
        let created = try #require(Self.milliseconds(ticket["created_at"]))
        #expect(Self.milliseconds(ticket["first_response_due"]) == created + 240 * 60_000)
        #expect(Self.milliseconds(ticket["resolve_due"]) == created + 1440 * 60_000)

        #expect(try await client.send("SLA.SET", "urgent", "30", "120") == .ok)
        #expect(
            try await client.send("SLA.SET", "urgent", "300", "120")
                == .error("INVALID first_response_minutes: must not exceed resolve_minutes"))
        #expect(try await client.send("TICKET.SET", "1", "priority", "urgent") == .integer(2))
        ticket = try await client.send("TICKET.GET", "1").fields
        #expect(Self.milliseconds(ticket["resolve_due"]) == created + 120 * 60_000, "re-prioritising recomputes")
        #expect(
            try await client.send("TICKET.SET", "1", "resolve_due", "2030-01-01T00:00:00.000Z")
                == .error("INVALID resolve_due: is set by the SLA policy (SLA.SET)"))
        await client.close()
        await gateway.stop()
    }

    @Test func statusRecordsResponseAndResolutionAndTheBreachFlagFollowsTheClock() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        #expect(try await client.send("SLA.SET", "urgent", "0", "0") == .ok)
        try await client.send("TICKET.ADD", "subject", "Line down", "priority", "urgent")
        try await client.send("TICKET.ADD", "subject", "Invoice copy", "priority", "low")
        try await Task.sleep(for: .milliseconds(5))
        #expect(try await client.send("TICKET.GET", "1").fields["sla_breached"] == "1", "due times passed unanswered")
        #expect(try await client.send("TICKET.GET", "2").fields["sla_breached"] == "0")
        #expect(try await client.send("TICKET.STATUS", "2", "open") == .integer(2))
        var ticket = try await client.send("TICKET.GET", "2").fields
        #expect(ticket["first_response_at"] != nil)
        #expect(ticket["resolved_at"] == nil)
        #expect(try await client.send("TICKET.STATUS", "2", "resolved") == .integer(3))
        ticket = try await client.send("TICKET.GET", "2").fields
        #expect(ticket["resolved_at"] != nil)
        #expect(ticket["sla_breached"] == "0", "resolved within its due times")
        #expect(try await client.send("TICKET.STATUS", "2", "open") == .integer(4))
        #expect(try await client.send("TICKET.GET", "2").fields["resolved_at"] == nil, "reopening clears resolution")
        #expect(
            try await client.send("TICKET.STATUS", "2", "open") == .error("INVALID status: the ticket is already open"))
        #expect(
            try await client.send("TICKET.STATUS", "2", "done")
                == .error("INVALID status: must be one of new, open, pending, resolved, closed"))
        let open = try await client.send("TICKET.FIND", "WHERE", "status", "=", "open")
        #expect(open.elements?[1].elements?.map { $0.fields["id"] } == ["2"])
        let urgent = try await client.send(
            "TICKET.FIND", "WHERE", "status", "=", "new", "AND", "priority", "=", "urgent")
        #expect(urgent.elements?[1].elements?.first?.fields["sla_breached"] == "1")
        await client.close()
        await gateway.stop()
    }

    static func milliseconds(_ text: String?) -> Int64? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }
}
