import CRMProtocol
import CRMStore

/// The pub/sub channels of a tenant: `events` carries every committed event,
/// `reorders` the `reorder.*` ones. A session only ever hears its own tenant.
enum EventChannel: String, CaseIterable, Sendable {
    case events
    case reorders

    func carries(_ event: CommittedEvent) -> Bool {
        switch self {
        case .events: true
        case .reorders: event.type.hasPrefix("reorder.")
        }
    }

    /// The channels whose names match a `PSUBSCRIBE` glob pattern.
    static func matching(pattern: String) -> [EventChannel] {
        allCases.filter { Glob.matches(pattern: Array(pattern.utf8), text: Array($0.rawValue.utf8)) }
    }
}

/// Redis's glob patterns (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`), as PSUBSCRIBE uses them.
enum Glob {
    static func matches(pattern: [UInt8], text: [UInt8]) -> Bool {
        matches(pattern[...], text[...])
    }

    private static func matches(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var pattern = pattern
        var text = text
        while let token = pattern.first {
            switch token {
            case UInt8(ascii: "*"):
                let rest = pattern.dropFirst()
                if rest.isEmpty { return true }
                for start in text.indices + [text.endIndex] where matches(rest, text[start...]) { return true }
                return false
            case UInt8(ascii: "?"):
                guard !text.isEmpty else { return false }
                pattern = pattern.dropFirst()
                text = text.dropFirst()
            case UInt8(ascii: "["):
                guard let character = text.first, let close = pattern.dropFirst().firstIndex(of: UInt8(ascii: "]"))
                else { return false }
                var set = pattern[(pattern.startIndex + 1)..<close]
                let negated = set.first == UInt8(ascii: "^")
                if negated { set = set.dropFirst() }
                guard inSet(character, set) != negated else { return false }
                pattern = pattern[(close + 1)...]
                text = text.dropFirst()
            default:
                var literal = token
                if token == UInt8(ascii: "\\"), pattern.count > 1 {
                    pattern = pattern.dropFirst()
                    literal = pattern.first!
                }
                guard text.first == literal else { return false }
                pattern = pattern.dropFirst()
                text = text.dropFirst()
            }
        }
        return text.isEmpty
    }

    private static func inSet(_ character: UInt8, _ set: ArraySlice<UInt8>) -> Bool {
        let members = Array(set)
        var index = 0
        while index < members.count {
            if index + 2 < members.count, members[index + 1] == UInt8(ascii: "-") {
                if (min(members[index], members[index + 2])...max(members[index], members[index + 2])).contains(
                    character)
                {
                    return true
                }
                index += 3
            } else {
                if members[index] == character { return true }
                index += 1
            }
        }
        return false
    }
}

/// What a connection is subscribed to, and the frames pub/sub sends it.
struct Subscriptions {
    private(set) var channels: [EventChannel] = []
    /// Each pattern with the channels it matches, matched once at PSUBSCRIBE.
    private(set) var patterns: [(pattern: String, channels: [EventChannel])] = []

    var count: Int { channels.count + patterns.count }

    /// Applies a (P)(UN)SUBSCRIBE and returns its confirmation frames, one per channel or pattern.
    mutating func apply(_ change: SubscriptionChange) -> [RESPValue] {
        var frames: [RESPValue] = []
        func confirm(_ kind: String, _ name: String?) {
            frames.append(.push([.bulk(kind), name.map { .bulk($0) } ?? .null, .integer(count)]))
        }
        switch change {
        case .subscribe(let names):
            for channel in names {
                if !channels.contains(channel) { channels.append(channel) }
                confirm("subscribe", channel.rawValue)
            }
        case .psubscribe(let names):
            for pattern in names {
                if !patterns.contains(where: { $0.pattern == pattern }) {
                    patterns.append((pattern, EventChannel.matching(pattern: pattern)))
                }
                confirm("psubscribe", pattern)
            }
        case .unsubscribe(let names):
            for channel in names.isEmpty ? channels : names {
                channels.removeAll { $0 == channel }
                confirm("unsubscribe", channel.rawValue)
            }
            if frames.isEmpty { confirm("unsubscribe", nil) }
        case .punsubscribe(let names):
            for pattern in names.isEmpty ? patterns.map(\.pattern) : names {
                patterns.removeAll { $0.pattern == pattern }
                confirm("punsubscribe", pattern)
            }
            if frames.isEmpty { confirm("punsubscribe", nil) }
        }
        return frames
    }

    /// The `message` and `pmessage` frames for committed events, in order.
    func messages(for events: [CommittedEvent]) -> [RESPValue] {
        var frames: [RESPValue] = []
        for event in events {
            let direct = channels.filter { $0.carries(event) }
            let matched = patterns.flatMap { entry in
                entry.channels.filter { $0.carries(event) }.map { (entry.pattern, $0) }
            }
            guard !direct.isEmpty || !matched.isEmpty else { continue }
            let payload = RESPValue.bulk(event.json)
            for channel in direct {
                frames.append(.push([.bulk("message"), .bulk(channel.rawValue), payload]))
            }
            for (pattern, channel) in matched {
                frames.append(.push([.bulk("pmessage"), .bulk(pattern), .bulk(channel.rawValue), payload]))
            }
        }
        return frames
    }
}

/// A (P)(UN)SUBSCRIBE, applied by the session to its subscriptions.
enum SubscriptionChange: Sendable {
    case subscribe([EventChannel])
    case psubscribe([String])
    /// No names: every channel.
    case unsubscribe([EventChannel])
    /// No patterns: every pattern.
    case punsubscribe([String])
}
