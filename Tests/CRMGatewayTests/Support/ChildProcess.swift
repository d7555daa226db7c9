import Foundation

/// Runs a program to its end without blocking a Swift concurrency thread:
/// tests await it while the in-process server (which needs those threads)
/// answers the program. Output is collected as it is written.
enum ChildProcess {
    /// `started` is told the child's process id once it runs (to signal it).
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        includingStandardError: Bool = true, started: @Sendable (Int32) -> Void = { _ in }
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        if includingStandardError { process.standardError = output }
        let input = Pipe()
        process.standardInput = input
        let drain = PipeDrain(output.fileHandleForReading)
        let status = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            started(process.processIdentifier)
            input.fileHandleForWriting.write(Data((stdin ?? "").utf8))
            try? input.fileHandleForWriting.close()
        }
        let data = await drain.ended()
        return (status, String(decoding: data, as: UTF8.self))
    }
}
