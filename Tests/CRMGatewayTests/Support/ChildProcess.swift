import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to its end without blocking a Swift concurrency thread:
/// tests await it while the in-process server (which needs those threads)
/// answers the program. Output is collected as it is written.
enum ChildProcess {
    /// `started` is told the child's process id once it runs (to signal it).
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        includingStandardError: Bool = true, started: @Sendable (Int32) -> Void = { _ in }
    ) async throws -> (status: Int32, output: String) {
        let output = try ChildPipe()
        let input = try ChildPipe()
        let discarded = open("/dev/null", O_WRONLY | O_CLOEXEC)
        let process: SpawnedProcess
        do {
            defer {
                close(output.writeEnd)
                close(input.readEnd)
                close(discarded)
            }
            process = try SpawnedProcess(
                executable: executable, arguments: arguments, environment: environment,
                standardInput: input.readEnd, standardOutput: output.writeEnd,
                standardError: includingStandardError ? output.writeEnd : discarded)
        } catch {
            close(output.readEnd)
            close(input.writeEnd)
            throw error
        }
        let drain = PipeDrain(output.readEnd)
        started(process.processIdentifier)
        Self.write(stdin ?? "", to: input.writeEnd)
        close(input.writeEnd)
        let status = await process.exited()
        let data = await drain.ended()
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// Writes all of `text` (a child that exits early makes the rest go nowhere).
    private static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count == -1, errno == EINTR { continue }
            guard count > 0 else { return }
            bytes = bytes.dropFirst(count)
        }
    }
}
