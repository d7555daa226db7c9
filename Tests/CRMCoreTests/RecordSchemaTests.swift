import CRMCore
import Testing

@Suite struct RecordSchemaTests {
    let schema = RecordSchema.contact

    @Test func normalizesEmailsAndEnumerations() throws {
        let changes = try schema.validate([("email", "Ada@Example.COM"), ("lifecycle", "Lead")])
        #expect(changes["email"] == .some("ada@example.com"))
        #expect(changes["lifecycle"] == .some("lead"))
    }

    @Test func emptyValueClearsAndLastValueWins() throws {
        let changes = try schema.validate([("phone", "+1 555"), ("phone", ""), ("x_tier", "gold")])
        #expect(changes["phone"] == .some(nil))
        #expect(changes["x_tier"] == .some("gold"))
        #expect(changes.fieldNames == ["phone", "x_tier"])
    }

    static let rejected: [(String, String, String)] = [
        ("email", "not-an-email", "email"),
        ("email", "a@b", "email"),
        ("lifecycle", "prospect", "lifecycle"),
        ("phone", "call me", "phone"),
        ("ext", "has space", "ext"),
        ("id", "7", "id"),
        ("created_at", "2020", "created_at"),
        ("favourite", "x", "favourite"),
        ("x_", "x", "x_"),
        ("x_Bad", "x", "x_Bad"),
        ("notes", "nul\u{0}byte", "notes"),
        ("first_name", String(repeating: "a", count: 257), "first_name"),
    ]

    @Test(arguments: rejected)
    func rejectsBadFieldsNamingTheField(field: String, value: String, named: String) {
        #expect {
            _ = try schema.validate([(field, value)])
        } throws: { error in
            (error as? InvalidField)?.field == named
        }
    }

    @Test func limitsCustomFieldCount() {
        let pairs = (0...RecordSchema.maxCustomFields).map { ("x_f\($0)", "v") }
        #expect(throws: InvalidField.self) { _ = try schema.validate(pairs) }
    }

    @Test func tenantNamesAreSafeFileNames() throws {
        #expect(try TenantName("acme-01").value == "acme-01")
        for bad in ["", "../etc", "Acme", "-acme", "a b", "a/b", String(repeating: "a", count: 64), "ä"] {
            #expect(throws: InvalidField.self) { _ = try TenantName(bad) }
        }
    }

    @Test func timestampsAreFixedWidthUTC() {
        #expect(Timestamp.iso8601(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(milliseconds: 1_795_000_000_123) == "2026-11-18T11:06:40.123Z")
        #expect(Timestamp.iso8601(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.iso8601(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(milliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(milliseconds: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }

    @Test func jsonTextEscapes() {
        #expect(JSONText.object([("a", "q\"\\\n\u{1}"), ("b", nil)]) == #"{"a":"q\"\\\n\u0001","b":null}"#)
        #expect(JSONText.object([("ü", "日本\t\r\u{1F}x"), ("", "")]) == #"{"ü":"日本\t\r\u001fx","":""}"#)
        #expect(JSONText.object([]) == "{}")
        #expect(JSONText.quoted("plain") == #""plain""#)
    }
}
