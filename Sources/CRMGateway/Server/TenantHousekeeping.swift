import ServiceLifecycle

/// Looks after the open tenants while the server runs, as a service of its
/// own beside ``GatewayServer``. Each second it samples memory, tenant and
/// descriptor figures and, when descriptors run short, closes the tenants no
/// session holds; every five seconds tenants idle for ten give back their
/// memory, and tenants not written for ten (read or not) merge their search
/// indexes; every half minute tenants idle for five minutes close.
public struct TenantHousekeeping: Service {
    let services: GatewayServices

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [services] in
            var second = 0
            while true {
                try await Task.sleep(for: .seconds(1))
                second += 1
                services.memory.sample()
                // One count of the descriptors a second, for the metrics and the pressure check.
                let descriptors = DescriptorLimit.inUse
                services.metrics.sampleTenants(services.tenants, descriptorsInUse: descriptors)
                if second % 5 == 0 { await services.tenants.releaseIdle(olderThan: .seconds(10)) }
                if second % 30 == 0 { await services.tenants.closeIdle(olderThan: .seconds(300)) }
                await services.tenants.relieveDescriptorPressure(inUse: descriptors, limit: services.descriptorLimit)
            }
        }
    }
}
