import Foundation
import Synchronization

/// An exclusive `flock` on `DATA/crmgate.lock`, held for as long as a server
/// (or `crmgate restore`) uses the directory. Two servers on one directory
/// would each cache the same tenants and drift apart; the second one to start
/// is refused, told the directory and the PID that holds it. The kernel drops
/// the lock when its holder exits, even by `kill -9`, so a stale file never
/// blocks a restart.
public final class DataDirectoryLock: Sendable {
    /// The lock file's name inside the data directory.
    public static let fileName = "crmgate.lock"

    private let descriptor: Mutex<Int32?>

    private init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
    }

    /// Locks `directory` (which must exist) and writes this process's PID into the lock file.
    public static func acquire(_ directory: String) throws(ConfigurationError) -> DataDirectoryLock {
        let path = directory + "/" + fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConfigurationError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.recordedPID(descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw ConfigurationError("cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            throw ConfigurationError(
                "the data directory \(directory) is in use by another crmgate (pid \(holder ?? "unknown")); "
                    + "stop it first, or give this server its own --data-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(descriptor: descriptor)
    }

    /// Lets the directory go; safe to call more than once.
    public func release() {
        descriptor.withLock { descriptor in
            if let open = descriptor { close(open) }
            descriptor = nil
        }
    }

    deinit {
        release()
    }

    private static func recordedPID(_ descriptor: Int32) -> String? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: bytes.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int(text) != nil ? text : nil
    }
}
