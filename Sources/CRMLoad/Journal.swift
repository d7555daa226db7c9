import Foundation

/// A tenant a run connects as.
public struct TenantCredentials: Sendable, Codable, Equatable {
    public var name: String
    public var keyID: String
    public var secret: String

    public init(name: String, keyID: String, secret: String) {
        self.name = name
        self.keyID = keyID
        self.secret = secret
    }

    /// Reads `tenant key-id secret` lines (`#` comments and blank lines skipped).
    public static func read(file path: String) throws -> [TenantCredentials] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").enumerated().compactMap {
            number, line in
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            if words.isEmpty || words[0].hasPrefix("#") { return nil }
            guard words.count == 3 else {
                throw LoadError("\(path):\(number + 1): expected `tenant key-id secret`")
            }
            return TenantCredentials(name: words[0], keyID: words[1], secret: words[2])
        }
    }
}

/// What the server acknowledged during a run, to be found again afterwards
/// (`--verify`, or `crmgate-load verify --journal FILE` after a restart).
public struct Journal: Sendable, Codable {
    public struct Contact: Sendable, Codable, Equatable {
        public var tenant: String
        public var id: Int64
        public var email: String
    }

    /// One connection's feed: every update it sent (acknowledged or not, since
    /// one in flight at a crash may have been applied), and the last acknowledged.
    public struct Feed: Sendable, Codable {
        public var tenant: String
        public var company: String
        public var sku: String
        public var sent: [Int64: FeedChange] = [:]
        public var acknowledgedSeq: Int64 = 0

        /// The level the SKU must have if the feed applied every update up to `seq`, in order.
        public func level(through seq: Int64) -> Int64 {
            var level: Int64 = 0
            for key in sent.keys.sorted() where key <= seq {
                switch sent[key]! {
                case .adjust(let delta): level += delta
                case .set(let value): level = value
                }
            }
            return level
        }
    }

    public var tenants: [TenantCredentials] = []
    public var contacts: [Contact] = []
    public var feeds: [String: Feed] = [:]

    public init() {}

    mutating func opened(feed: String, tenant: String, company: String, sku: String) {
        if feeds[feed] == nil { feeds[feed] = Feed(tenant: tenant, company: company, sku: sku) }
    }

    mutating func sent(feed: String, seq: Int64, change: FeedChange) {
        feeds[feed]?.sent[seq] = change
    }

    mutating func acknowledged(feed: String, seq: Int64) {
        if let known = feeds[feed]?.acknowledgedSeq, seq > known { feeds[feed]?.acknowledgedSeq = seq }
    }

    mutating func add(_ other: Journal) {
        contacts += other.contacts
        feeds.merge(other.feeds) { mine, _ in mine }
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    public static func load(from path: String) throws -> Journal {
        try JSONDecoder().decode(Journal.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A reason the tool cannot go on, in one plain line.
public struct LoadError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
