import Foundation
import Synchronization

/// The process's memory as `INFO memory` reports it, from `/proc/self/status`:
/// `used_memory` is the anonymous resident memory (heap, caches, buffers),
/// `used_memory_rss` all resident memory, and the peak is the highest
/// `used_memory` sampled (each second while the server runs, and at each read).
final class MemoryUsage: Sendable {
    private let peak = Atomic<Int>(0)

    /// Anonymous resident bytes (`RssAnon`).
    var used: Int {
        let bytes = Self.status("RssAnon:")
        peak.max(bytes, ordering: .relaxed)
        return bytes
    }

    /// The highest ``used`` seen.
    var peakUsed: Int {
        _ = used
        return peak.load(ordering: .relaxed)
    }

    /// Resident set size (`VmRSS`).
    var resident: Int { Self.status("VmRSS:") }

    /// Records the current figure toward the peak.
    func sample() {
        _ = used
    }

    /// A `kB` line of `/proc/self/status`, in bytes; 0 where there is none.
    private static func status(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) })
        else { return 0 }
        let number = line.dropFirst(field.count).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 0
        return number * 1024
    }
}
