import Foundation
import Testing

/// The real `crmgate` binary running in a child process, for tests that
/// signal or kill it. Its log is collected as it is written.
final class ServerProcess {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/crmgate").path

    let process = Process()
    private(set) var port = 0
    private let log = Pipe()
    private let drain: PipeDrain

    /// Everything the server has logged so far.
    var output: String { drain.text }

    /// Starts `crmgate --data-dir directory --port 0 arguments…` and waits until it accepts connections;
    /// with `descriptorLimit`, under that `RLIMIT_NOFILE` (soft and hard).
    init(dataDirectory: String, arguments: [String] = [], descriptorLimit: Int? = nil) throws {
        drain = PipeDrain(log.fileHandleForReading)
        let serverArguments = ["--data-dir", dataDirectory, "--port", "0"] + arguments
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments =
                ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", Self.binary] + serverArguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = serverArguments
        }
        process.standardError = log
        process.standardOutput = log
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while !output.contains("tls_port="), process.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
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
    func stop(with signal: Int32) -> String {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return String(decoding: drain.endedBlocking(), as: UTF8.self)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
