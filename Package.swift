// swift-tools-version:6.1
import PackageDescription

/// The server's hot path is our own code: release builds skip the runtime
/// exclusivity checks there (about a tenth of the CPU per command in `perf`);
/// debug builds and tests keep them.
let serverSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "crmgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "crmgate", targets: ["crmgate"]),
        .executable(name: "crmgate-admin", targets: ["crmgate-admin"]),
        .executable(name: "crmgate-load", targets: ["crmgate-load"]),
        .library(name: "CRMGateway", targets: ["CRMGateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .target(name: "CRMCore", swiftSettings: serverSettings),
        .target(name: "CSQLiteConfig", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "CRMStore",
            dependencies: [
                "CRMCore",
                "CSQLiteConfig",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: serverSettings
        ),
        .target(
            name: "CRMProtocol",
            dependencies: [
                "CRMCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: serverSettings
        ),
        .target(
            name: "CRMGateway",
            dependencies: [
                "CRMCore",
                "CRMStore",
                "CRMProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: serverSettings
        ),
        .executableTarget(
            name: "crmgate",
            dependencies: [
                "CRMCore",
                "CRMGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CRMLoad",
            dependencies: [
                "CRMCore",
                "CRMProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: serverSettings
        ),
        .executableTarget(
            name: "crmgate-load",
            dependencies: ["CRMLoad", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .systemLibrary(name: "CLibEdit", path: "Admin/CLibEdit", providers: [.apt(["libedit-dev"])]),
        .target(
            name: "CRMAdmin",
            dependencies: [
                "CRMCore",
                "CRMProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            path: "Admin/CRMAdmin"
        ),
        .executableTarget(
            name: "crmgate-admin",
            dependencies: [
                "CRMAdmin",
                "CRMProtocol",
                "CLibEdit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Admin/crmgate-admin"
        ),
        .target(
            name: "CRMTestSupport",
            dependencies: [
                "CRMStore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CRMTestSupport"),
        .testTarget(name: "CRMCoreTests", dependencies: ["CRMCore"]),
        .testTarget(name: "CRMAdminTests", dependencies: ["CRMAdmin", "CRMProtocol", "CRMCore"]),
        .testTarget(
            name: "CRMProtocolTests",
            dependencies: [
                "CRMProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CRMStoreTests",
            dependencies: [
                "CRMStore", "CRMCore", "CRMTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CRMGatewayTests",
            dependencies: [
                "CRMGateway",
                "CRMProtocol",
                "CRMStore",
                "CRMTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["Clients"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// `Ops/fuzz` builds these libFuzzer targets with `CRMGATE_FUZZ=1` and
/// `-sanitize=fuzzer,address`; ordinary builds and `swift test` leave them out.
if Context.environment["CRMGATE_FUZZ"] == "1" {
    package.targets += [
        .target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"),
        .executableTarget(
            name: "FuzzRESPDecoder",
            dependencies: ["FuzzDriver", "CRMProtocol", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/FuzzRESPDecoder"
        ),
        .executableTarget(
            name: "FuzzSession",
            dependencies: ["FuzzDriver", "CRMGateway", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/FuzzSession"
        ),
    ]
}
