import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `crmgate` binary running in a child process, for tests that
/// signal or kill it. Its log is collected as it is written.
final class ServerProcess {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/crmgate").path

    let process: SpawnedProcess
    private(set) var port = 0
    private let drain: PipeDrain

    /// Everything the server has logged so far.
    var output: String { drain.text }

    /// Starts `crmgate --data-dir directory --port 0 arguments…` and waits until it accepts connections;
    /// with `descriptorLimit`, under that `RLIMIT_NOFILE` (soft and hard).
    init(dataDirectory: String, arguments: [String] = [], descriptorLimit: Int? = nil) async throws {
        let serverArguments = ["--data-dir", dataDirectory, "--port", "0"] + arguments
        let log = try ChildPipe()
        let nothing = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(log.writeEnd)
            close(nothing)
        }
        do {
            if let descriptorLimit {
                process = try SpawnedProcess(
                    executable: "/bin/sh",
                    arguments: ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", Self.binary]
                        + serverArguments,
                    standardInput: nothing, standardOutput: log.writeEnd, standardError: log.writeEnd)
            } else {
                process = try SpawnedProcess(
                    executable: Self.binary, arguments: serverArguments,
                    standardInput: nothing, standardOutput: log.writeEnd, standardError: log.writeEnd)
            }
        } catch {
            close(log.readEnd)
            throw error
        }
        drain = PipeDrain(log.readEnd)
        let deadline = ContinuousClock.now + .seconds(60)
        while !output.contains("tls_port="), process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let portText = try #require(output.split(separator: " ").first { $0.hasPrefix("tls_port=") }, "\(output)")
        port = try #require(Int(portText.dropFirst("tls_port=".count).prefix { $0.isNumber }))
    }

    /// Runs the binary (or another `executable`, such as an Ops script) with `arguments` to the end;
    /// returns its status and output.
    static func run(_ arguments: [String], executable: String = binary) async throws -> (status: Int32, output: String)
    {
        try await ChildProcess.run(executable, arguments)
    }

    /// Sends `signal` and waits for the process to end; returns its whole log.
    @discardableResult
    func stop(with signal: Int32) async -> String {
        process.signal(signal)
        _ = await process.exited()
        return String(decoding: await drain.ended(), as: UTF8.self)
    }

    deinit {
        if process.isRunning {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }
    }
}
