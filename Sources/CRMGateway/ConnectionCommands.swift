import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// PING, ECHO, HELLO, AUTH, QUIT, RESET: connection commands as Redis has them.
enum ConnectionCommands {
    static let handlers: [String: CommandHandler] = [
        "PING": ping, "ECHO": echo, "HELLO": hello, "AUTH": auth, "QUIT": quit, "RESET": reset,
    ]

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

    /// Checks a key's secret (throttled per peer address) and opens its tenant's database.
    static func authenticate(
        _ invocation: CommandInvocation, keyID: String, secret: String,
        onSuccess: @escaping @Sendable (KeyInfo, TenantDatabase?) -> CommandResult
    ) throws -> CommandOutcome {
        let services = invocation.services
        let logger = invocation.logger
        let peer = invocation.session.client.peerIP
        let certificateName = TLSPolicy.verifiedClientName(of: invocation.session.client)
        if let wait = services.throttle.waitTime(for: peer) {
            let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            throw CommandError(.limit, "too many failed AUTH attempts from this address; retry in \(seconds) s")
        }
        return invocation.asyncResult {
            guard let key = try await services.catalog.authenticate(keyID: keyID, secret: secret) else {
                let (failures, blocked) = services.throttle.recordFailure(for: peer)
                services.statistics.authFailures.add(1, ordering: .relaxed)
                var metadata: Logger.Metadata = [
                    "peer": "\(peer)", "key_id": "\(AuthThrottle.printableKeyID(keyID))",
                    "consecutive_failures": "\(failures)",
                ]
                if let blocked { metadata["throttled_seconds"] = "\(blocked.components.seconds)" }
                logger.warning("AUTH failed", metadata: metadata)
                throw CommandError(
                    .wrongpass, "invalid key id or secret, or the key is revoked or its tenant suspended")
            }
            services.throttle.recordSuccess(for: peer)
            if services.configuration.tlsClientCAPath != nil, key.role == .erp, certificateName != key.tenant {
                logger.warning(
                    "ERP key refused without its client certificate",
                    metadata: ["peer": "\(peer)", "key_id": "\(key.id)", "certificate": "\(certificateName ?? "none")"])
                throw CommandError(
                    .noperm, "erp keys need a client certificate from the configured CA naming their tenant")
            }
            var tenant: TenantDatabase?
            if let name = key.tenant {
                tenant = try await services.tenants.acquire(TenantName(name))
            }
            return onSuccess(key, tenant)
        }
    }
}
