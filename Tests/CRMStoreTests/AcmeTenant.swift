import CRMCore
import CRMStore
import CRMTestSupport

/// Tenant `acme` opened in a fresh temporary directory: where most store tests start.
struct AcmeTenant {
    let directory: TemporaryDirectory
    let tenants: TenantDirectory
    let database: TenantDatabase

    init() async throws {
        directory = try TemporaryDirectory()
        tenants = try TenantDirectory(root: directory.path + "/tenants")
        database = try await tenants.acquire(TenantName("acme"))
    }
}
