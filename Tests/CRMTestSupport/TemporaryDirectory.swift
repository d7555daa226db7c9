import Foundation

/// A fresh directory under the system temporary directory, removed on deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    /// What lives as long as the directory (a test's PostgreSQL database and its store).
    private(set) var kept: [AnyObject] = []

    public init() throws {
        path = NSTemporaryDirectory() + "crmgate-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Keeps `object` until the directory goes.
    func keep(_ object: AnyObject) {
        kept.append(object)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
