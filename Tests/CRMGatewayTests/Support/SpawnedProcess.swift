import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn` and reaped by a thread of its own.
///
/// Foundation's `Process` was seen to crash the test process on Linux: it
/// walks `/proc/self/fd` while other threads open and close descriptors
/// (swift-corelibs-foundation#5472), and its pipes' `FileHandle` reads stop the
/// process with a fatal error on `EINTR`. Spawning directly, the child closes
/// every descriptor past its standard streams as it starts, so it holds none
/// of the test process's sockets or other children's pipes.
final class SpawnedProcess: Sendable {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    struct SpawnError: Error, CustomStringConvertible {
        let executable: String
        let code: Int32
        var description: String { "cannot run \(executable): \(String(cString: strerror(code)))" }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later),
    /// which its Swift module does not import.
    private static let addCloseFrom = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            fatalError("glibc 2.34 or later is needed to spawn test children")
        }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    let processIdentifier: pid_t
    /// The exit status, or the signal that ended it; nil while it runs.
    private let status = Mutex<Int32?>(nil)
    private let waiters = Mutex<[CheckedContinuation<Int32, Never>]>([])
    /// Entered until the process is reaped.
    private let running = DispatchGroup()

    /// Starts `executable` with `arguments`, its standard streams on the given
    /// descriptors (which it inherits; the caller keeps and closes its copies),
    /// `environment` (or this process's) and every signal at its default.
    init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        standardInput: Int32, standardOutput: Int32, standardError: Int32
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        posix_spawn_file_actions_adddup2(&actions, standardError, 2)
        // Nothing else: a server socket a child held open would outlive the server's close.
        _ = Self.addCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environmentLines =
            (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environmentLines.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        var spawned: pid_t = 0
        let code = posix_spawn(&spawned, executable, &actions, &attributes, argv, envp)
        guard code == 0 else { throw SpawnError(executable: executable, code: code) }
        let pid = spawned
        processIdentifier = pid
        running.enter()
        let reaper = Thread { [self] in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1, errno == EINTR {}
            // Exited: the exit code; killed: the signal (as Foundation's `terminationStatus`).
            let ended = raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
            status.withLock { $0 = ended }
            running.leave()
            let waiting = waiters.withLock { waiters in
                defer { waiters = [] }
                return waiters
            }
            for waiter in waiting { waiter.resume(returning: ended) }
        }
        reaper.name = "test child reaper"
        reaper.start()
    }

    var isRunning: Bool { status.withLock { $0 == nil } }

    /// The exit status, or the signal that ended it (only once it has ended).
    var terminationStatus: Int32 { status.withLock { $0 ?? -1 } }

    func signal(_ signal: Int32) { kill(processIdentifier, signal) }

    /// Waits on this (non-concurrency) thread for the end; its status.
    @discardableResult
    func waitUntilExit() -> Int32 {
        running.wait()
        return terminationStatus
    }

    /// Waits for the end without holding a thread; its status.
    func exited() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ended: Int32? = status.withLock { status in
                if status == nil { waiters.withLock { $0.append(continuation) } }
                return status
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }
}

/// A pipe to hand one end of to a child (as one of its standard streams).
struct ChildPipe {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        readEnd = ends[0]
        writeEnd = ends[1]
    }
}
