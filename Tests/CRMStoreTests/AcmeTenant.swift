import CRMCore
import CRMStore
import CRMTestSupport

/// Tenant `acme` opened in a fresh temporary directory (or a fresh PostgreSQL
/// database, see ``TestStorage``): where most store tests start.
struct AcmeTenant {
    let directory: TemporaryDirectory
    let tenants: TenantDirectory
    let database: TenantDatabase

    init() async throws {
        directory = try TemporaryDirectory()
        (_, tenants) = try await TestStorage.open(in: directory)
        database = try await tenants.acquire(TenantName("acme"))
    }
}
