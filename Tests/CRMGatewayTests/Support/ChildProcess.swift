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
        Self.feed(stdin ?? "", to: input.writeEnd)
        let status = await process.exited()
        let data = await drain.ended()
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// Writes all of `text` to the child's standard input on a thread of its own,
    /// then closes it (a child that exits early makes the rest go nowhere). Not
    /// on the caller's thread: past a pipe's 64 KiB the write blocks until the
    /// child reads, and a child like `redis-cli --pipe` reads only as the server
    /// answers, which an in-process server does on the concurrency threads.
    private static func feed(_ text: String, to descriptor: Int32) {
        let thread = Thread {
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if count == -1, errno == EINTR { continue }
                guard count > 0 else { break }
                bytes = bytes.dropFirst(count)
            }
            close(descriptor)
        }
        thread.name = "test child input"
        thread.start()
    }
}
