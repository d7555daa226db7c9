import CRMCore
import Foundation
import Logging

/// The server's structured log lines on standard error, one event per line:
/// logfmt (`time=… level=info label=crmgate msg="…" key=value…`) or JSON.
/// Commands' lines carry `request_id` (client id and command number).
public struct LogOutput: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case logfmt
        case json
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: Format
    private let write: @Sendable (String) -> Void

    /// A handler for `label`; `write` receives each finished line (standard error by default).
    public init(
        label: String, level: Logger.Level, format: Format,
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.write = write
    }

    /// A level from its name (`trace` … `critical`).
    public static func level(_ name: String) -> Logger.Level? {
        Logger.Level(rawValue: name)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var fields: [(String, String)] = [
            ("time", Date.now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))),
            ("level", event.level.rawValue), ("label", label), ("msg", "\(event.message)"),
        ]
        fields += merged.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        write(render(fields) + "\n")
    }

    func render(_ fields: [(String, String)]) -> String {
        switch format {
        case .logfmt:
            return fields.map { key, value in "\(key)=\(Self.logfmtValue(value))" }.joined(separator: " ")
        case .json:
            return JSONText.object(fields.map { (key: $0, value: $1) })
        }
    }

    private static func logfmtValue(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0.value != 0x7F }
        return plain ? value : JSONText.quoted(value)
    }
}
