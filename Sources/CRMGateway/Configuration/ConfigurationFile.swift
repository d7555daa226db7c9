import CRMStore
import Foundation
import TOMLKit

/// `crmgate --config FILE`: the TOML configuration file (Ops/crmgate.toml
/// documents every key). Each key is a ``ConfigurationFile/Setting``; an
/// unknown key, a wrong type or an unusable value is an error naming the key.
public enum ConfigurationFile {
    /// One key of the file: how it sets a configuration and how it is shown.
    struct Setting: Sendable {
        let key: String
        let apply: @Sendable (inout GatewayConfiguration, any TOMLValueConvertible) throws(ConfigurationError) -> Void
        /// The value as TOML, or nil when it is not set.
        let show: @Sendable (GatewayConfiguration) -> String?
    }

    /// Every key the file may hold, as `section.key`.
    public static var keys: [String] { settings.map(\.key) }

    /// Reads `path` over the defaults.
    public static func load(_ path: String) throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    /// Parses TOML text over the defaults.
    public static func parse(_ text: String, source: String = "configuration") throws(ConfigurationError)
        -> GatewayConfiguration
    {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                "\(source):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigurationError("\(source): \(error)")
        }
        var configuration = GatewayConfiguration()
        let settings = Dictionary(uniqueKeysWithValues: Self.settings.map { ($0.key, $0) })
        for (key, value) in flatten(table) {
            guard let setting = settings[key] else {
                throw ConfigurationError("\(source): unknown key \(key)")
            }
            try setting.apply(&configuration, value)
        }
        return configuration
    }

    /// The configuration as TOML, every key shown, secrets masked.
    public static func describe(_ configuration: GatewayConfiguration) -> String {
        var lines = ["# crmgate's effective configuration"]
        var section = ""
        for setting in settings {
            let parts = setting.key.split(separator: ".")
            let table = parts.count > 1 ? String(parts[0]) : ""
            if table != section {
                lines.append("\n[\(table)]")
                section = table
            }
            if let value = setting.show(configuration) {
                lines.append("\(parts.last!) = \(value)")
            } else {
                lines.append("# \(parts.last!) is not set")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func flatten(_ table: TOMLTable, prefix: String = "") -> [(String, any TOMLValueConvertible)] {
        table.keys.sorted().flatMap { key -> [(String, any TOMLValueConvertible)] in
            let value = table[key]!
            if let nested = value.table { return flatten(nested, prefix: prefix + key + ".") }
            return [(prefix + key, value)]
        }
    }

    // MARK: - The keys

    static let settings: [Setting] = [
        string("data_dir", \.dataDirectory),
        optionalString("backup_dir", \.backupDirectory),
        string("host", \.host),
        integer("port", \.port, in: 0...65535),
        optionalInteger("plaintext_port", \.plaintextPort, in: 1...65535),
        boolean("allow_insecure_plaintext", \.allowInsecurePlaintext),
        Setting(
            key: "durability",
            apply: { configuration, value throws(ConfigurationError) in
                let text = try text(value, key: "durability")
                guard let durability = Durability(rawValue: text) else {
                    throw ConfigurationError("durability must be full or normal, not \(text)")
                }
                configuration.durability = durability
            },
            show: { quoted($0.durability.rawValue) }),
        integer("max_clients", \.maxClients, in: 1...1_000_000),
        integer("max_open_tenants", \.maxOpenTenants, in: 1...1_000_000),
        integer("record_cache_entries", \.recordCacheEntries, in: 0...100_000_000),
        optionalInteger("event_loop_threads", \.eventLoopThreads, in: 1...1024),
        Setting(
            key: "storage",
            apply: { configuration, value throws(ConfigurationError) in
                let text = try text(value, key: "storage")
                do throws(PostgresURLError) {
                    configuration.storage = text.isEmpty ? nil : try PostgresURL(text)
                } catch {
                    throw ConfigurationError("storage: \(error.description)")
                }
            },
            // The URL as checked, its password masked.
            show: { $0.storage.map { quoted($0.description) } }),
        optionalString("storage_password_file", \.storagePasswordFile),
        integer("postgres_connections", \.postgresConnections, in: 1...1000),
        Setting(
            key: "log_level",
            apply: { configuration, value throws(ConfigurationError) in
                let text = try text(value, key: "log_level")
                guard LogOutput.level(text) != nil else {
                    throw ConfigurationError("log_level must be trace, debug, info, notice, warning, error or critical")
                }
                configuration.logLevel = text
            },
            show: { quoted($0.logLevel) }),
        Setting(
            key: "log_format",
            apply: { configuration, value throws(ConfigurationError) in
                let text = try text(value, key: "log_format")
                guard let format = LogOutput.Format(rawValue: text) else {
                    throw ConfigurationError("log_format must be logfmt or json, not \(text)")
                }
                configuration.logFormat = format
            },
            show: { quoted($0.logFormat.rawValue) }),

        optionalString("tls.cert", \.tlsCertificatePath),
        optionalString("tls.key", \.tlsKeyPath),
        Setting(
            key: "tls.key_passphrase",
            apply: { configuration, value throws(ConfigurationError) in
                configuration.tlsKeyPassphrase = try text(value, key: "tls.key_passphrase")
            },
            show: { $0.tlsKeyPassphrase.map { _ in quoted("********") } }),
        optionalString("tls.client_ca", \.tlsClientCAPath),

        integer("limits.max_inline_bytes", \.limits.maxInlineLength, in: 1024...(16 << 20)),
        integer("limits.max_bulk_bytes", \.limits.maxBulkLength, in: 1024...(512 << 20)),
        integer("limits.max_arguments", \.limits.maxArguments, in: 3...1_000_000),
        integer("limits.max_pending_bytes", \.limits.maxPendingBytes, in: 1024...(1 << 30)),
        integer("limits.client_output_bytes", \.clientOutputLimit, in: 64 << 10...(1 << 30)),
        Setting(
            key: "limits.max_tenant_mib",
            apply: { configuration, value throws(ConfigurationError) in
                let mebibytes = try number(value, key: "limits.max_tenant_mib", in: 0...(1 << 30))
                configuration.maxTenantBytes = mebibytes > 0 ? mebibytes << 20 : nil
            },
            show: { String(($0.maxTenantBytes ?? 0) >> 20) }),

        seconds("timeouts.idle_seconds", \.idleTimeout),
        seconds("timeouts.auth_seconds", \.authTimeout),
        Setting(
            key: "timeouts.shutdown_grace_seconds",
            apply: { configuration, value throws(ConfigurationError) in
                configuration.shutdownGracePeriod = .seconds(
                    try number(value, key: "timeouts.shutdown_grace_seconds", in: 0...3600))
            },
            show: { String($0.shutdownGracePeriod.components.seconds) }),

        optionalInteger("rate_limits.tenant_per_second", \.tenantRateLimit, in: 1...100_000_000),
        optionalInteger("rate_limits.key_per_second", \.keyRateLimit, in: 1...100_000_000),
        integer("rate_limits.auth_failures_before_throttle", \.authFailuresBeforeThrottle, in: 1...1_000_000),
        integer(
            "rate_limits.unknown_key_failures_before_throttle", \.unknownKeyFailuresBeforeThrottle, in: 1...1_000_000),

        integer("slowlog.log_slower_than_microseconds", \.slowlogThresholdMicroseconds, in: -1...3_600_000_000),
        integer("slowlog.max_len", \.slowlogMaxLength, in: 0...1_000_000),

        optionalInteger("metrics.port", \.metricsPort, in: 1...65535),
        string("metrics.host", \.metricsHost),
    ]

    private static func text(_ value: any TOMLValueConvertible, key: String) throws(ConfigurationError) -> String {
        guard let text = value.string else { throw ConfigurationError("\(key) must be a string") }
        return text
    }

    private static func number(_ value: any TOMLValueConvertible, key: String, in range: ClosedRange<Int>)
        throws(ConfigurationError) -> Int
    {
        guard let number = value.int else { throw ConfigurationError("\(key) must be an integer") }
        guard range.contains(number) else {
            throw ConfigurationError("\(key) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func string(_ key: String, _ path: WritableKeyPath<GatewayConfiguration, String> & Sendable)
        -> Setting
    {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                configuration[keyPath: path] = try text(value, key: key)
            },
            show: { quoted($0[keyPath: path]) })
    }

    private static func optionalString(
        _ key: String, _ path: WritableKeyPath<GatewayConfiguration, String?> & Sendable
    ) -> Setting {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                let text = try text(value, key: key)
                configuration[keyPath: path] = text.isEmpty ? nil : text
            },
            show: { $0[keyPath: path].map(quoted) })
    }

    private static func boolean(_ key: String, _ path: WritableKeyPath<GatewayConfiguration, Bool> & Sendable)
        -> Setting
    {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                guard let flag = value.bool else { throw ConfigurationError("\(key) must be true or false") }
                configuration[keyPath: path] = flag
            },
            show: { String($0[keyPath: path]) })
    }

    private static func integer(
        _ key: String, _ path: WritableKeyPath<GatewayConfiguration, Int> & Sendable, in range: ClosedRange<Int>
    ) -> Setting {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                configuration[keyPath: path] = try number(value, key: key, in: range)
            },
            show: { String($0[keyPath: path]) })
    }

    /// An integer where 0 means "off" (nil).
    private static func optionalInteger(
        _ key: String, _ path: WritableKeyPath<GatewayConfiguration, Int?> & Sendable, in range: ClosedRange<Int>
    ) -> Setting {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                let number = try number(value, key: key, in: 0...range.upperBound)
                guard number == 0 || range.contains(number) else {
                    throw ConfigurationError(
                        "\(key) must be 0 (off) or between \(range.lowerBound) and \(range.upperBound)")
                }
                configuration[keyPath: path] = number == 0 ? nil : number
            },
            show: { String($0[keyPath: path] ?? 0) })
    }

    /// Whole seconds where 0 means "never" (nil).
    private static func seconds(_ key: String, _ path: WritableKeyPath<GatewayConfiguration, Duration?> & Sendable)
        -> Setting
    {
        Setting(
            key: key,
            apply: { configuration, value throws(ConfigurationError) in
                let seconds = try number(value, key: key, in: 0...(365 * 86400))
                configuration[keyPath: path] = seconds == 0 ? nil : .seconds(seconds)
            },
            show: { String($0[keyPath: path]?.components.seconds ?? 0) })
    }
}
