import CRMCore
import Foundation

/// The wall-clock time the store stamps on records and events.
enum WallClock {
    static func now() -> String {
        Timestamp.iso8601(milliseconds: milliseconds())
    }

    /// Milliseconds since the Unix epoch.
    static func milliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
