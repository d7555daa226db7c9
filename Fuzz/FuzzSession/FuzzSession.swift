import CRMGateway
import Foundation
import Logging
import Synchronization

/// libFuzzer entry point over a whole session: a real crmgate server runs in
/// this process (plaintext on loopback, a temporary data directory) and every
/// input is sent, after an owner's AUTH, on a fresh connection, so command
/// lookup, role and arity checks, argument parsing and the store all see it.
func fuzzSession(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let harness = SessionHarness.shared
    let connection = LoopbackConnection.connect(port: harness.port)
    var authenticated = Array("AUTH \(harness.key.id) \(harness.key.secret)\r\n".utf8)
    authenticated.append(contentsOf: UnsafeBufferPointer(start: start, count: count))
    connection.send(authenticated)
    connection.finishSending()
    let reply = connection.receiveAll()
    if !reply.starts(with: Array("+OK\r\n".utf8)) {
        // The input revoked this key (KEY.REVOKE) or the reply was cut: the next input gets a new key.
        harness.renewKey()
    }
    return 0
}

/// The server the inputs are sent to, with an owner key of tenant `fuzz`.
final class SessionHarness: @unchecked Sendable {
    static let shared = SessionHarness()

    let port: Int
    private let adminKey: (id: String, secret: String)
    private(set) var key: (id: String, secret: String)
    private let server: GatewayServer

    private init() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("crmgate-fuzz-\(getpid())").path
        var configuration = GatewayConfiguration()
        configuration.dataDirectory = directory
        configuration.port = 0
        configuration.plaintextPort = 0
        configuration.authFailuresBeforeThrottle = .max
        var logger = Logger(label: "crmgate-fuzz")
        logger.logLevel = .critical
        do {
            let start = ServerStart()
            Task { [configuration, logger] in
                do {
                    let server = try await GatewayServer(configuration: configuration, logger: logger)
                    try await server.start()
                    start.finish(.success(server))
                } catch {
                    start.finish(.failure(error))
                }
            }
            server = try start.wait()
            port = server.ports.plaintext!
            let words = try String(contentsOfFile: directory + "/admin.key", encoding: .utf8).split(separator: " ")
            adminKey = (String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            fatalError("cannot start the server: \(error)")
        }
        key = ("", "")
        _ = run("TENANT.CREATE fuzz\r\n")
        renewKey()
        for seed in [
            "COMPANY.ADD name Acme ext erp-1 trust 70", "COMPANY.STAGE 1 transition REASON growing",
            "COMPANY.STAGE 1 partner REASON live", "CONTACT.ADD email ada@example.com company 1 ext c-1",
            "DEAL.ADD title Rollout company 1 amount 1000", "TICKET.ADD subject Down company 1",
            "INV.RULE erp-1 SKU-1 MIN 5 MAX 20", "INV.SET erp-1 SKU-1 10",
        ] {
            _ = run("AUTH \(key.id) \(key.secret)\r\n\(seed)\r\n", asAdmin: false)
        }
    }

    /// Creates a fresh owner key of tenant `fuzz`.
    func renewKey() {
        let reply = String(decoding: run("KEY.CREATE fuzz owner\r\n"), as: UTF8.self)
        let lines = reply.split(separator: "\r\n").filter {
            !$0.hasPrefix("*") && !$0.hasPrefix("$") && !$0.hasPrefix("+")
        }
        guard lines.count >= 2 else { fatalError("cannot create a key: \(reply)") }
        key = (String(lines[0]), String(lines[1]))
    }

    private func run(_ text: String, asAdmin: Bool = true) -> [UInt8] {
        let connection = LoopbackConnection.connect(port: port)
        let auth = asAdmin ? "AUTH \(adminKey.id) \(adminKey.secret)\r\n" : ""
        connection.send(Array((auth + text).utf8))
        connection.finishSending()
        return connection.receiveAll()
    }
}

/// A blocking TCP connection to 127.0.0.1.
struct LoopbackConnection: ~Copyable {
    /// Why a connection could not be made: the `errno` of `socket` or `connect`.
    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        var description: String { String(cString: strerror(code)) }
    }

    private let socket: Int32

    /// A connection to the harness's server, tried again for up to 5 s: a
    /// connect can fail for a moment (a thousand a second go through loopback),
    /// but a server that refuses for that long has stopped, and the run ends saying why.
    static func connect(port: Int) -> LoopbackConnection {
        var lastFailure = Failure(code: 0)
        for _ in 0..<50 {
            do {
                return try LoopbackConnection(port: port)
            } catch {
                lastFailure = error
                usleep(100_000)
            }
        }
        fatalError("the server stopped accepting connections: \(lastFailure)")
    }

    /// The descriptor is the connection's only once connected: a failed one is
    /// closed here, and the deinit (which closes `socket`) never sees it.
    private init(port: Int) throws(Failure) {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(descriptor)
            throw Failure(code: code)
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        socket = descriptor
    }

    /// Closed with a reset (linger 0): the connection leaves no TIME_WAIT behind,
    /// which at a thousand inputs a second used up the ephemeral ports in about 25 s.
    deinit {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(socket)
    }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { return }
            sent += written
        }
    }

    func finishSending() {
        shutdown(socket, Int32(SHUT_WR))
    }

    /// Everything the server sends until it closes the connection (or 5 s of silence).
    func receiveAll() -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return received }
            received.append(contentsOf: chunk[0..<count])
        }
    }
}

/// The server's start, handed from the task that runs it to the fuzzer's thread.
private final class ServerStart: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let outcome = Mutex<Result<GatewayServer, any Error>?>(nil)

    func finish(_ result: Result<GatewayServer, any Error>) {
        outcome.withLock { $0 = result }
        done.signal()
    }

    func wait() throws -> GatewayServer {
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}
