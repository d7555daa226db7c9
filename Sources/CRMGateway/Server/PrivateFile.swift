import Foundation

/// Files holding keys and secrets: created with their final mode, so they are
/// never readable by others even briefly, and synced before use.
enum PrivateFile {
    /// Writes `text` to `path`, created (or truncated) with `mode`, then fsyncs it.
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        guard fchmod(descriptor, mode) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }
}
