import Foundation
import Testing

/// The test children's own plumbing: what a child inherits decides whether a
/// server's close reaches its client while another test runs a program.
@Suite struct SpawnedProcessTests {
    @Test func aChildInheritsOnlyItsStandardStreams() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect()
        // `ls` opens /proc/self/fd itself as 3; anything above would be one of ours.
        let listed = try await ChildProcess.run("/bin/ls", ["-1", "/proc/self/fd"])
        #expect(listed.status == 0)
        #expect(listed.output.split(separator: "\n") == ["0", "1", "2", "3"], "\(listed.output)")
        await client.close()
        await gateway.stop()
    }

    @Test func statusIsTheExitCodeOrTheSignal() async throws {
        #expect(try await ChildProcess.run("/bin/sh", ["-c", "exit 3"]).status == 3)
        #expect(try await ChildProcess.run("/bin/sh", ["-c", "kill -9 $$"]).status == SIGKILL)
        #expect(try await ChildProcess.run("/bin/cat", [], stdin: "typed\n").output == "typed\n")
    }
}
