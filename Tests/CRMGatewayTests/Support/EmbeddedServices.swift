import CRMStore
import CRMTestSupport
import Logging

@testable import CRMGateway

extension GatewayServices {
    /// Services over a catalog and tenants in `directory`, for handlers on an `EmbeddedChannel`.
    static func embedded(
        in directory: TemporaryDirectory, configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) throws -> GatewayServices {
        var configuration = GatewayConfiguration()
        configuration.dataDirectory = directory.path
        configure(&configuration)
        return GatewayServices(
            configuration: configuration, catalog: try Catalog(directory: directory.path),
            tenants: try TenantDirectory(root: directory.path + "/tenants"), logger: Logger(label: "test"),
            startedAtUnixSeconds: 0,
            metrics: GatewayMetrics(table: .standard, slowLog: SlowLog(thresholdMicroseconds: 10_000, maxLength: 128)),
            descriptorLimit: 1024)
    }
}
