import CRMGateway
import CRMProtocol
import Foundation
import NIOCore
import NIOPosix
import Testing

/// What a hostile or broken client can send, against a real server. After
/// each attack the server still answers another client and no data changed.
@Suite struct HostileInputTests {
    /// A server with one tenant holding a contact, and an observer connection on it.
    struct Scene {
        let gateway: TestGateway
        let observer: TestClient
        let key: (id: String, secret: String)
        let baseline: [RESPValue]

        static func start(
            logs: LogCapture? = nil, configure: (inout GatewayConfiguration) -> Void = { _ in }
        ) async throws -> Scene {
            let gateway = try await TestGateway.start(logs: logs, configure: configure)
            let key = try await gateway.createTenantKey("acme")
            let observer = try await gateway.connect(keyID: key.id, secret: key.secret)
            #expect(try await observer.send("CONTACT.ADD", "email", "ada@example.com", "ext", "c-1") == .integer(1))
            return Scene(gateway: gateway, observer: observer, key: key, baseline: try await Self.state(observer))
        }

        static func state(_ client: TestClient) async throws -> [RESPValue] {
            [try await client.send("CONTACT.FIND"), try await client.send("CONTACT.GET", "1")]
        }

        /// The server answers the observer and the tenant's data is what it was.
        func expectUnharmed(after attack: String) async throws {
            #expect(try await observer.send("PING") == .simpleString("PONG"), "no answer after \(attack)")
            #expect(try await Self.state(observer) == baseline, "data changed after \(attack)")
        }

        func connect() async throws -> TestClient {
            try await gateway.connect(keyID: key.id, secret: key.secret)
        }

        func stop() async {
            await observer.close()
            await gateway.stop()
        }
    }

    @Test func malformedFramesGetAProtocolErrorAndTheConnectionCloses() async throws {
        let scene = try await Scene.start()
        let attacks: [(String, String)] = [
            ("*abc\r\n", "invalid multibulk count"),
            ("*2000\r\n", "invalid multibulk length"),
            ("*99999999999999999999999\r\n", "invalid multibulk count"),
            ("*2\r\n$-3\r\n", "invalid bulk length"),
            ("*2\r\n$x\r\n", "invalid bulk length"),
            ("*2\r\n$99999999999999999999\r\n", "invalid bulk length"),
            ("*2\r\n$2000000\r\n", "invalid bulk length"),
            ("*2\r\n$4\r\nPINGxx", "bulk string not terminated by CRLF"),
            ("*2\r\n:5\r\n", "expected '$', got ':'"),
            ("CONTACT.ADD email \"ada@example.com\r\n", "unbalanced quotes in request"),
            ("CONTACT.ADD email 'ada\r\n", "unbalanced quotes in request"),
            ("CONTACT.ADD email \"a\"b\r\n", "unbalanced quotes in request"),
            (String(repeating: "x", count: 70_000) + "\r\n", "too big inline request"),
            ("*1\r\n$" + String(repeating: "9", count: 70_000), "too big bulk length string"),
            ("CONTACT.GET" + String(repeating: " x", count: 1100) + "\r\n", "too many arguments in inline request"),
        ]
        for (wire, reason) in attacks {
            let client = try await scene.connect()
            try await client.write(raw: ByteBuffer(string: wire))
            let reply = try await client.read()
            #expect(reply == .error("ERR Protocol error: \(reason)"), "\(wire.prefix(40).debugDescription)")
            #expect(await client.isClosedByServer(), "\(wire.prefix(40).debugDescription) left the connection open")
            try await scene.expectUnharmed(after: wire)
        }
        await scene.stop()
    }

    @Test func nulBytesAndInvalidUTF8InValuesAreRefusedClearly() async throws {
        let scene = try await Scene.start()
        let client = try await scene.connect()
        var wire = ByteBuffer()
        for value: [UInt8] in [[0x61, 0x00, 0x62], [0xFF, 0xFE], [0xC3], Array("ok".utf8)] {
            wire.writeString("*5\r\n$11\r\nCONTACT.ADD\r\n$5\r\nemail\r\n$13\r\nbob@example.c\r\n$5\r\nnotes\r\n")
            wire.writeString("$\(value.count)\r\n")
            wire.writeBytes(value)
            wire.writeString("\r\n")
        }
        try await client.write(raw: wire)
        let nul = try await client.read()
        #expect(nul.errorMessage?.hasPrefix("INVALID notes: ") == true, "\(nul)")
        for _ in 0..<2 {
            #expect(try await client.read() == .error("INVALID argument 4: not valid UTF-8"))
        }
        #expect(try await client.read() == .integer(2), "the connection goes on after the refusals")
        #expect(try await client.send("CONTACT.GET", "2").fields["notes"] == "ok")
        #expect(try await client.send("CONTACT.DEL", "2") == .integer(1))
        try await scene.expectUnharmed(after: "NUL and invalid UTF-8")
        await client.close()
        await scene.stop()
    }

    @Test func tenThousandPipelinedCommandsInOneWriteAreAllAnsweredInOrder() async throws {
        let scene = try await Scene.start()
        let client = try await scene.connect()
        let commands = (0..<10_000).map { index -> [String] in
            switch index % 4 {
            case 0: ["PING"]
            case 1: ["ECHO", "m\(index)"]
            case 2: ["CONTACT.GET", "1"]
            default: ["CONTACT.GET", "no-such-\(index)"]
            }
        }
        let replies = try await client.pipeline(commands)
        #expect(replies.count == 10_000)
        for (index, reply) in replies.enumerated() {
            switch index % 4 {
            case 0: #expect(reply == .simpleString("PONG"))
            case 1: #expect(reply == .bulk("m\(index)"))
            case 2: #expect(reply.fields["email"] == "ada@example.com")
            default: #expect(reply == .error("NOTFOUND no such contact"))
            }
        }
        try await scene.expectUnharmed(after: "10,000 pipelined commands")
        await client.close()
        await scene.stop()
    }

    @Test func halfAFrameThenSilenceIsClosedByTheIdleTimeout() async throws {
        // Ten seconds: on a loaded machine (the whole suite starting at once on two cores) one set-up
        // step, such as a TLS handshake before AUTH, took over three, and the connection doing it was
        // itself closed as idle.
        let gateway = try await TestGateway.start { $0.idleTimeout = .seconds(10) }
        let key = try await gateway.createTenantKey("acme")
        let client = try await gateway.connect(keyID: key.id, secret: key.secret)
        // A PING in the same write makes the connection active right then, however long the set-up took
        // on a loaded machine; the half frame after it must not count as activity.
        try await client.write(
            raw: ByteBuffer(string: "*1\r\n$4\r\nPING\r\n*5\r\n$11\r\nCONTACT.ADD\r\n$5\r\nemail\r\n$13\r\nmal"))
        let started = ContinuousClock.now
        while client.channel.isActive, ContinuousClock.now - started < .seconds(30) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!client.channel.isActive, "the stalled connection is closed")
        #expect(ContinuousClock.now - started >= .seconds(1), "not before the timeout")
        let admin = try await gateway.connectAsAdmin()
        let info = try await admin.send("INFO", "stats").string ?? ""
        await admin.close()
        #expect(info.contains("idle_disconnections:1"), "\(info)")
        let observer = try await gateway.connect(keyID: key.id, secret: key.secret)
        #expect(try await observer.send("CONTACT.FIND").elements?[1] == .array([]), "the half command wrote nothing")
        await observer.close()
        await gateway.stop()
    }

    @Test func aSlowReaderIsHeldBackInsteadOfBufferingItsReplies() async throws {
        let scene = try await Scene.start()
        for index in 0..<99 {
            _ = try await scene.observer.send(
                "CONTACT.ADD", "email", "p\(index)@example.com", "notes", String(repeating: "n", count: 200))
        }
        let baseline = try await Scene.state(scene.observer)
        let slow = try await TestClient.connect(
            port: scene.gateway.port, caPath: scene.gateway.caPath, receiveBufferSize: 4096)
        #expect(try await slow.send("AUTH", scene.key.id, scene.key.secret) == .ok)
        try await slow.setReading(false)
        let count = 1_000
        var wire = ByteBuffer()
        for _ in 0..<count { wire.writeRESPCommand(["CONTACT.FIND", "LIMIT", "100"]) }
        try await slow.write(raw: wire)
        try await Task.sleep(for: .seconds(1))
        // Every reply is about 40 KiB: all of them buffered would be 40 MiB. What does run fills
        // the kernel's socket buffers (a few MiB on loopback) and one flush; the rest waits.
        let clients = try await scene.observer.send("CLIENT", "LIST").string ?? ""
        let line = try #require(clients.split(separator: "\n").first { $0.contains("cmd=contact.find") })
        let processed = Int(line.split(separator: " ").first { $0.hasPrefix("commands=") }!.dropFirst(9))!
        #expect(processed < count * 6 / 10, "the server ran \(processed) of the slow reader's commands ahead of it")
        #expect(try await Scene.state(scene.observer) == baseline, "others are served meanwhile")
        try await slow.setReading(true)
        for _ in 0..<count {
            #expect(try await slow.read().elements?[1].elements?.count == 100)
        }
        await slow.close()
        await scene.stop()
    }

    @Test func tlsGarbageAndPlaintextOnTheTLSPortAreDropped() async throws {
        let scene = try await Scene.start()
        var random = SystemRandomNumberGenerator()
        let garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }
        for payload in [
            Array("PING\r\n".utf8), Array("*1\r\n$4\r\nPING\r\n".utf8), garbage,
            [0x16, 0x03, 0x01, 0xFF, 0xFF] + garbage,
        ] {
            let raw = try await TestClient.connect(port: scene.gateway.port, caPath: nil)
            try await raw.write(raw: ByteBuffer(bytes: payload))
            #expect(await raw.isClosedByServer(), "the TLS port kept a connection that sent \(payload.prefix(8))")
            try await scene.expectUnharmed(after: "non-TLS bytes on the TLS port")
        }
        await scene.stop()
    }

    @Test func authBruteForceIsThrottledAndLogged() async throws {
        let logs = LogCapture()
        let scene = try await Scene.start(logs: logs) { $0.authFailuresBeforeThrottle = 3 }
        let attacker = try await scene.gateway.connect()
        // One pipeline: the attempts arrive back to back, well inside the first one-second block.
        let attempts =
            (0..<6).map { ["AUTH", scene.key.id, "guess-\($0)"] } + [["AUTH", scene.key.id, scene.key.secret]]
        let replies = try await attacker.pipeline(attempts)
        #expect(replies.prefix(3).allSatisfy { $0.errorMessage?.hasPrefix("WRONGPASS") == true })
        #expect(
            replies.dropFirst(3).allSatisfy { $0.errorMessage?.hasPrefix("LIMIT too many failed AUTH") == true },
            "even the right secret waits out the throttle: \(replies)")
        #expect(logs.text.contains("AUTH failed"))
        #expect(logs.text.contains("throttled_seconds=1"))
        #expect(!logs.text.contains("guess-"), "guessed secrets are not logged")
        try await scene.expectUnharmed(after: "AUTH brute force")
        await attacker.close()
        await scene.stop()
    }
}

/// Found by `Ops/fuzz` (FuzzSession, 30 minutes): connections that half-closed
/// while a blocking read waited stayed open until the block ended, until the
/// server ran out of connections.
@Suite struct HalfClosedClientTests {
    @Test func aClientThatClosesDuringABlockingReadIsReleasedAtOnce() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let observer = try await gateway.connect(keyID: key.id, secret: key.secret)
        func connected() async throws -> Int {
            let info = try await observer.send("INFO", "clients").string ?? ""
            let line = info.split(separator: "\r\n").first { $0.hasPrefix("connected_clients:") } ?? ""
            return Int(line.dropFirst("connected_clients:".count)) ?? -1
        }
        let before = try await connected()
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, ssl, sys
                context = ssl.create_default_context(cafile=sys.argv[1])
                raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
                tls = context.wrap_socket(raw, server_hostname="localhost")
                tls.sendall(("AUTH %s %s\\r\\nEVENTS.READ BLOCK 0\\r\\n" % (sys.argv[3], sys.argv[4])).encode())
                print(tls.recv(5).decode().strip())
                tls.close()
                """, gateway.caPath, String(gateway.port), key.id, key.secret,
            ])
        #expect(status == 0 && output.hasPrefix("+OK"), "\(output)")
        var count = try await connected()
        for _ in 0..<100 where count > before {
            try await Task.sleep(for: .milliseconds(50))
            count = try await connected()
        }
        #expect(count == before, "the blocked, abandoned connection is gone")
        #expect(try await observer.send("PING") == .simpleString("PONG"))
        await observer.close()
        await gateway.stop()
    }

    @Test func aHalfClosedClientGetsEveryReplyBeforeTheClose() async throws {
        let gateway = try await TestGateway.start { $0.plaintextPort = 0 }
        let key = try await gateway.createTenantKey("acme")
        let port = try #require(gateway.server.ports.plaintext)
        let commands =
            "AUTH \(key.id) \(key.secret)\r\n" + (0..<50).map { "CONTACT.ADD email h\($0)@example.com\r\n" }.joined()
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.sendall(sys.argv[2].encode())
                s.shutdown(socket.SHUT_WR)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                sys.stdout.write(data.decode())
                """, String(port), commands,
            ])
        #expect(status == 0)
        let lines = output.split(separator: "\r\n")
        #expect(lines.first == "+OK")
        #expect(lines.dropFirst().map(String.init) == (1...50).map { ":\($0)" }, "every write answered: \(output)")
        await gateway.stop()
    }
}
