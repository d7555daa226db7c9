import CRMCore

/// The rows a new tenant starts with, on either engine: the standard
/// pipeline's stages and the standard service level of each ticket priority.
enum TenantDefaults {
    static func insert(_ db: any SQLDatabase) throws {
        for (position, stage) in Pipeline.standard.stages.enumerated() {
            try db.execute(
                "INSERT INTO pipeline_stages (pipeline, position, stage, probability) VALUES (?, ?, ?, ?)",
                [Pipeline.standard.name, position, stage.name, stage.probability])
        }
        for priority in TicketPriority.allCases {
            let level = ServiceLevel.standard(for: priority)
            try db.execute(
                "INSERT INTO service_levels (priority, first_response_minutes, resolve_minutes) VALUES (?, ?, ?)",
                [priority.rawValue, level.firstResponseMinutes, level.resolveMinutes])
        }
    }
}
