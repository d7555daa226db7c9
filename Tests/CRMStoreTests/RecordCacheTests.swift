import CRMCore
import CRMTestSupport
import Testing

@testable import CRMStore

@Suite struct RecordCacheTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    private func open(capacity: Int) async throws -> TenantDatabase {
        let tenants = try TenantDirectory(root: directory.path + "/tenants", recordCacheCapacity: capacity)
        return try await tenants.acquire(TenantName("acme"))
    }

    private func contact(_ database: TenantDatabase, _ email: String) async throws -> Int64 {
        try await database.add(
            try RecordSchema.contact.validate([("email", email), ("first_name", "Ada")]), actor: nil)
    }

    @Test func aTenantReadOnlyFromItsCacheIsNotIdle() async throws {
        let tenants = try TenantDirectory(root: directory.path + "/tenants", recordCacheCapacity: 10)
        let database = try await tenants.acquire(TenantName("acme"))
        let id = try await contact(database, "ada@example.com")
        _ = try await database.get(id: id)
        try await Task.sleep(for: .milliseconds(20))
        #expect(database.cachedRecord(.contact, .id(id)) != nil)
        await tenants.releaseIdle(olderThan: .milliseconds(10))
        #expect(database.recordCache.count == 1, "reads the cache answered kept the tenant in use")
        await tenants.releaseIdle(olderThan: .zero)
        #expect(database.recordCache.count == 0, "with no read since, it is idle and gives its cache back")
    }

    @Test func aReadFillsTheCacheAndACommitEmptiesItBeforeItsReply() async throws {
        let database = try await open(capacity: 10)
        let id = try await contact(database, "ada@example.com")
        #expect(database.cachedRecord(.contact, .id(id)) == nil, "writes do not fill the cache")
        let read = try await database.get(id: id)
        #expect(database.cachedRecord(.contact, .id(id)) == read)

        let version = try await database.write { transaction in
            try transaction.contacts.set(
                id: id, try RecordSchema.contact.validate([("first_name", "Grace")]), ifVersion: nil, force: false,
                actor: nil)
        }
        #expect(version == 2)
        #expect(database.cachedRecord(.contact, .id(id)) == nil, "the commit dropped the changed record")
        #expect(try await database.get(id: id)["first_name"] == "Grace")
        #expect(database.cachedRecord(.contact, .id(id))?["first_name"] == "Grace")

        try await database.delete(id: id, actor: nil)
        #expect(database.cachedRecord(.contact, .id(id)) == nil)
    }

    @Test func recordsACommitDroppedLeaveTheirRoomToOthers() async throws {
        let database = try await open(capacity: 10)
        var ids: [Int64] = []
        for number in 1...15 { ids.append(try await contact(database, "c\(number)@example.com")) }
        for id in ids[0..<10] { _ = try await database.get(id: id) }
        #expect(database.recordCache.count == 10)
        // Five of the cached records change: the commit drops them, and their room is free.
        let changing = Array(ids[5..<10])
        try await database.write { transaction in
            for id in changing {
                _ = try transaction.contacts.set(
                    id: id, try RecordSchema.contact.validate([("first_name", "Grace")]), ifVersion: nil,
                    force: false, actor: nil)
            }
        }
        #expect(database.recordCache.count == 5)
        for id in ids[10..<15] { _ = try await database.get(id: id) }
        #expect(database.recordCache.count == 10, "five new records in the room the changed ones left")
        for id in ids[0..<5] {
            #expect(database.cachedRecord(.contact, .id(id)) != nil, "contact \(id) was not pushed out")
        }
        // Full again: the next record pushes out the oldest.
        _ = try await database.get(id: ids[5])
        #expect(database.recordCache.count == 10)
        #expect(database.cachedRecord(.contact, .id(ids[0])) == nil)
        #expect(database.cachedRecord(.contact, .id(ids[5])) != nil)
    }

    @Test func aFailedWriteLeavesTheCachedRecordAlone() async throws {
        let database = try await open(capacity: 10)
        let id = try await contact(database, "ada@example.com")
        let read = try await database.get(id: id)
        await #expect(throws: StoreError.self) {
            _ = try await database.set(
                id: id, try RecordSchema.contact.validate([("title", "CTO")]), ifVersion: 7, force: false, actor: nil)
        }
        #expect(database.cachedRecord(.contact, .id(id)) == read)
    }

    @Test func aRecordChangedByAForeignKeyActionIsDroppedToo() async throws {
        let database = try await open(capacity: 10)
        let company = try await database.write {
            try $0.companies.add(RecordSchema.company.validate([("name", "Acme")]), actor: nil)
        }
        let id = try await database.add(
            try RecordSchema.contact.validate([("email", "ada@example.com"), ("company", "\(company)")]), actor: nil)
        #expect(try await database.get(id: id)["company"] == "\(company)")
        #expect(database.cachedRecord(.contact, .id(id))?["company"] == "\(company)")

        // ON DELETE SET NULL changes the contact without any statement naming it.
        try await database.write { try $0.companies.delete(id: company, actor: nil) }
        #expect(database.cachedRecord(.contact, .id(id)) == nil)
        #expect(try await database.get(id: id)["company"] == nil)
    }

    @Test func aReadDispatchedBeforeACommitCannotStoreWhatTheCommitReplaced() async throws {
        let database = try await open(capacity: 10)
        let id = try await contact(database, "ada@example.com")
        let fill = try #require(database.recordCache.fill())
        let old = try await database.read { try $0.contacts.stored(id: id) }
        _ = try await database.set(
            id: id, try RecordSchema.contact.validate([("first_name", "Grace")]), ifVersion: nil, force: false,
            actor: nil)
        fill.store(old, type: .contact)
        #expect(database.cachedRecord(.contact, .id(id)) == nil)
    }

    @Test func aCommitToAnotherRecordTypeOrIDKeepsOthersCached() async throws {
        let database = try await open(capacity: 10)
        let first = try await contact(database, "ada@example.com")
        let second = try await contact(database, "grace@example.com")
        _ = try await database.get(id: first)
        _ = try await database.set(
            id: second, try RecordSchema.contact.validate([("title", "CTO")]), ifVersion: nil, force: false,
            actor: nil)
        #expect(database.cachedRecord(.contact, .id(first)) != nil)
        #expect(database.cachedRecord(.company, .id(first)) == nil, "types do not share ids")
    }

    @Test func aFullCacheForgetsItsOldestRecords() async throws {
        let database = try await open(capacity: 2)
        var ids: [Int64] = []
        for index in 0..<3 { ids.append(try await contact(database, "c\(index)@example.com")) }
        for id in ids { _ = try await database.get(id: id) }
        #expect(database.recordCache.count == 2)
        #expect(database.cachedRecord(.contact, .id(ids[0])) == nil)
        #expect(database.cachedRecord(.contact, .id(ids[1])) != nil)
        #expect(database.cachedRecord(.contact, .id(ids[2])) != nil)
    }

    @Test func aRecordIsFoundByExtAndForgottenWhenItsExtChanges() async throws {
        let database = try await open(capacity: 10)
        let id = try await database.add(
            try RecordSchema.contact.validate([("ext", "crm-7"), ("first_name", "Ada")]), actor: nil)
        let byExt = try await database.read { try $0.contacts.get(.ext("crm-7")) }
        #expect(byExt.id == id)
        #expect(database.cachedRecord(.contact, .ext("crm-7")) == byExt)
        #expect(database.cachedRecord(.contact, .id(id)) == byExt)
        _ = try await database.set(
            id: id, try RecordSchema.contact.validate([("ext", "crm-8")]), ifVersion: nil, force: false, actor: nil)
        #expect(database.cachedRecord(.contact, .ext("crm-7")) == nil)
        await #expect(throws: StoreError.notFound("no such contact")) {
            _ = try await database.read { try $0.contacts.get(.ext("crm-7")) }
        }
        #expect(try await database.read { try $0.contacts.get(.ext("crm-8")) }.id == id)
    }

    @Test func anEncodedReplyIsKeptUntilTheRecordChanges() async throws {
        let database = try await open(capacity: 10)
        let id = try await contact(database, "ada@example.com")
        _ = try await database.get(id: id)
        let encodings = Counter()
        let encode = { (record: StoredRecord) -> [UInt8] in
            encodings.add()
            return Array("\(record.version):\(record["first_name"] ?? "")".utf8)
        }
        #expect(database.cachedReply(.contact, .id(id), format: 2, encode: encode) == Array("1:Ada".utf8))
        #expect(database.cachedReply(.contact, .id(id), format: 2, encode: encode) == Array("1:Ada".utf8))
        #expect(encodings.value == 1, "the second read used the kept reply")
        #expect(database.cachedReply(.contact, .id(id), format: 3, encode: encode) == Array("1:Ada".utf8))
        #expect(database.cachedReply(.contact, .id(id), format: 3, encode: encode) == Array("1:Ada".utf8))
        #expect(encodings.value == 2, "another format is encoded, then kept instead")

        _ = try await database.set(
            id: id, try RecordSchema.contact.validate([("first_name", "Grace")]), ifVersion: nil, force: false,
            actor: nil)
        #expect(database.cachedReply(.contact, .id(id), format: 2, encode: encode) == nil, "the change dropped it")
        _ = try await database.get(id: id)
        #expect(database.cachedReply(.contact, .id(id), format: 2, encode: encode) == Array("2:Grace".utf8))
        #expect(encodings.value == 3)
    }

    @Test func aTicketsReplyIsEncodedAtEveryReadForItsBreachFlag() async throws {
        let database = try await open(capacity: 10)
        let id = try await database.write { transaction in
            try transaction.tickets.add(try RecordSchema.ticket.validate([("subject", "EDI down")]), actor: nil)
        }
        _ = try await database.read { try $0.tickets.get(.id(id)) }
        let encodings = Counter()
        let encode = { (record: StoredRecord) -> [UInt8] in
            encodings.add()
            return Array((record["sla_breached"] ?? "missing").utf8)
        }
        #expect(database.cachedReply(.ticket, .id(id), format: 2, encode: encode) == Array("0".utf8))
        #expect(database.cachedReply(.ticket, .id(id), format: 2, encode: encode) == Array("0".utf8))
        #expect(encodings.value == 2)
    }

    @Test func capacityZeroCachesNothing() async throws {
        let database = try await open(capacity: 0)
        let id = try await contact(database, "ada@example.com")
        _ = try await database.get(id: id)
        #expect(database.cachedRecord(.contact, .id(id)) == nil)
        #expect(database.recordCache.count == 0)
    }

    @Test func aCachedTicketStillComputesItsBreachFlag() async throws {
        let database = try await open(capacity: 10)
        let id = try await database.write { transaction in
            try transaction.tickets.add(try RecordSchema.ticket.validate([("subject", "EDI down")]), actor: nil)
        }
        let read = try await database.read { try $0.tickets.get(.id(id)) }
        #expect(read["sla_breached"] == "0")
        let cached = try #require(database.cachedRecord(.ticket, .id(id)))
        #expect(cached == read)
    }
}

/// Counts calls from a non-escaping closure.
private final class Counter {
    private(set) var value = 0
    func add() { value += 1 }
}

extension TenantDatabase {
    /// The bytes ``cachedReply(_:_:format:encode:write:)`` writes, or nil if it finds nothing.
    fileprivate func cachedReply(
        _ type: RecordKind, _ reference: RecordReference, format: Int, encode: (StoredRecord) -> [UInt8]
    ) -> [UInt8]? {
        var written: [UInt8]?
        let found = cachedReply(type, reference, format: format, encode: encode) { written = Array($0) }
        #expect(found == (written != nil), "true exactly when it wrote a reply")
        return written
    }
}
