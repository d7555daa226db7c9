import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// PING, ECHO, HELLO, AUTH, QUIT, RESET, SELECT: connection commands as Redis has
/// them; and clear refusals of the keyspace commands Redis tools call that a
/// CRM gateway has no equivalent of.
enum ConnectionCommands {
    static let handlers: [String: CommandHandler] = [
        "PING": ping, "ECHO": echo, "HELLO": hello, "AUTH": auth, "QUIT": quit, "RESET": reset, "SELECT": select,
        "SCAN": { _ in throw unsupported("SCAN", instead: "TYPE.FIND with CURSOR, e.g. CONTACT.FIND LIMIT 100") },
        "KEYS": { _ in throw unsupported("KEYS", instead: "CONTACT.FIND, COMPANY.FIND, DEAL.FIND or TICKET.FIND") },
        "MONITOR": { _ in
            throw unsupported("MONITOR", instead: "SUBSCRIBE events (a tenant's changes) or SLOWLOG GET (operators)")
        },
    ]

    /// A Redis command with no meaning here, refused with what to use instead.
    private static func unsupported(_ name: String, instead: String) -> CommandError {
        CommandError(.err, "\(name) is not supported: records are not Redis keys; use \(instead)")
    }

    /// `SELECT 0` is accepted (client URLs ending in `/0`, `db=0`); the key, not a number, chooses the tenant.
    static func select(_ invocation: CommandInvocation) throws -> CommandOutcome {
        guard try invocation.text(1) == "0" else {
            throw CommandError(
                .err, "DB index is out of range: crmgate has only database 0; the key you AUTH with chooses the tenant")
        }
        return .reply(.ok)
    }

    static let serverVersion = "0.1.0"

    /// PONG; in RESP2 subscribe mode `["pong", message]`, as Redis answers there.
    static func ping(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let message = invocation.arguments.count > 1 ? invocation.arguments[1] : nil
        if invocation.session.inSubscribeMode {
            return .reply(.array([.bulk("pong"), .bulkString(message ?? ByteBuffer())]))
        }
        return .reply(message.map { .bulkString($0) } ?? .simpleString("PONG"))
    }

    static func echo(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .reply(.bulkString(invocation.arguments[1]))
    }

    static func quit(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .done(CommandResult(reply: .ok, effects: [.close]))
    }

    static func reset(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .done(CommandResult(reply: .simpleString("RESET"), effects: [.reset]))
    }

    static func auth(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try authenticate(invocation, keyID: invocation.text(1), secret: invocation.text(2)) { key, tenant in
            CommandResult(reply: .ok, effects: [.authenticated(key, tenant)])
        }
    }

    /// `HELLO [protover [AUTH key-id secret] [SETNAME name]]`
    static func hello(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var version = invocation.session.protocolVersion
        var credentials: (String, String)?
        var name: String?
        if invocation.arguments.count > 1 {
            guard let number = Int(try invocation.text(1)), let requested = RESPVersion(rawValue: number) else {
                throw CommandError(.noproto, "unsupported protocol version")
            }
            version = requested
            var index = 2
            while index < invocation.arguments.count {
                switch try invocation.text(index).uppercased() {
                case "AUTH" where index + 2 < invocation.arguments.count:
                    credentials = (try invocation.text(index + 1), try invocation.text(index + 2))
                    index += 3
                case "SETNAME" where index + 1 < invocation.arguments.count:
                    name = try ClientCommands.validatedName(invocation.text(index + 1))
                    index += 2
                default:
                    throw CommandError.syntax("syntax error in HELLO option '\(try invocation.text(index))'")
                }
            }
        }
        var effects: [SessionEffect] = [.switchProtocol(version)]
        if let name { effects.append(.setName(name)) }
        guard let credentials else {
            guard invocation.session.key != nil else {
                throw CommandError(
                    .noauth,
                    "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <key-id> <secret> option can be used"
                )
            }
            return .done(CommandResult(reply: helloReply(invocation, version: version), effects: effects))
        }
        return try authenticate(invocation, keyID: credentials.0, secret: credentials.1) {
            [version, effects] key, tenant in
            CommandResult(
                reply: helloReply(invocation, version: version), effects: [.authenticated(key, tenant)] + effects)
        }
    }

    private static func helloReply(_ invocation: CommandInvocation, version: RESPVersion) -> RESPValue {
        .map([
            (.bulk("server"), .bulk("crmgate")),
            (.bulk("version"), .bulk(serverVersion)),
            (.bulk("proto"), .integer(version.rawValue)),
            (.bulk("id"), .integer(invocation.session.client.id)),
            (.bulk("mode"), .bulk("standalone")),
            (.bulk("role"), .bulk("master")),
            (.bulk("modules"), .array([])),
        ])
    }

    /// Checks a key's secret and opens its tenant's database. Failures are
    /// throttled per key, and unknown key ids per peer address (``AuthThrottle``):
    /// a correct secret for a key that has not failed is never refused.
    static func authenticate(
        _ invocation: CommandInvocation, keyID: String, secret: String,
        onSuccess: @escaping @Sendable (KeyInfo, TenantLease?) -> CommandResult
    ) throws -> CommandOutcome {
        let services = invocation.services
        let logger = invocation.logger
        let peer = invocation.session.client.peerIP
        let certificateName = TLSPolicy.verifiedClientName(of: invocation.session.client)
        if let wait = services.throttle.waitTime(for: .key(keyID)) {
            throw CommandError(
                .limit,
                "too many failed AUTH attempts for this key; retry in \(AuthThrottle.retrySeconds(wait)) s")
        }
        return invocation.asyncResult {
            let key: KeyInfo
            switch try await services.catalog.check(keyID: keyID, secret: secret) {
            case .accepted(let accepted):
                key = accepted
            case .refused(let knownID, let tenant):
                let (failures, blocked) = services.throttle.recordFailure(for: .key(knownID))
                services.tenantActivity.recordAuthFailure(tenant: tenant)
                try refused(peer: peer, keyID: knownID, failures: failures, blocked: blocked, services, logger)
            case .unknownKey:
                if let wait = services.throttle.waitTime(for: .unknownKeysFrom(peer)) {
                    throw CommandError(
                        .limit,
                        "too many AUTH attempts with unknown key ids from this address; retry in "
                            + "\(AuthThrottle.retrySeconds(wait)) s")
                }
                let (failures, blocked) = services.throttle.recordFailure(for: .unknownKeysFrom(peer))
                try refused(peer: peer, keyID: keyID, failures: failures, blocked: blocked, services, logger)
            }
            services.throttle.recordSuccess(for: .key(key.id))
            if services.configuration.tlsClientCAPath != nil, key.role == .erp, certificateName != key.tenant {
                logger.warning(
                    "ERP key refused without its client certificate",
                    metadata: ["peer": "\(peer)", "key_id": "\(key.id)", "certificate": "\(certificateName ?? "none")"])
                throw CommandError(
                    .noperm, "erp keys need a client certificate from the configured CA naming their tenant")
            }
            var lease: TenantLease?
            if let name = key.tenant {
                lease = try await services.tenants.lease(TenantName(name))
            }
            return onSuccess(key, lease)
        }
    }

    /// Logs and counts a failed AUTH, then refuses it.
    private static func refused(
        peer: String, keyID: String, failures: Int, blocked: Duration?, _ services: GatewayServices, _ logger: Logger
    ) throws(CommandError) -> Never {
        services.statistics.authFailures.add(1, ordering: .relaxed)
        var metadata: Logger.Metadata = [
            "peer": "\(peer)", "key_id": "\(AuthThrottle.printableKeyID(keyID))",
            "consecutive_failures": "\(failures)",
        ]
        if let blocked { metadata["throttled_seconds"] = "\(blocked.components.seconds)" }
        logger.warning("AUTH failed", metadata: metadata)
        throw CommandError(.wrongpass, "invalid key id or secret, or the key is revoked or its tenant suspended")
    }
}
