/// A sales pipeline: ordered deal stages with win probabilities. The last two
/// stages close the deal: the won stage (probability 100) and the lost stage
/// (probability 0).
public struct Pipeline: Sendable, Equatable {
    public struct Stage: Sendable, Equatable {
        public let name: String
        public let probability: Int

        public init(name: String, probability: Int) {
            self.name = name
            self.probability = probability
        }
    }

    public let name: String
    public let stages: [Stage]

    public static let maxStages = 32

    /// The pipeline every tenant starts with.
    public static let standard = Pipeline(
        unchecked: "default",
        stages: [
            Stage(name: "qualification", probability: 10), Stage(name: "proposal", probability: 40),
            Stage(name: "negotiation", probability: 70), Stage(name: "won", probability: 100),
            Stage(name: "lost", probability: 0),
        ])

    private init(unchecked name: String, stages: [Stage]) {
        self.name = name
        self.stages = stages
    }

    /// Validates a pipeline definition.
    public init(name: String, stages: [Stage]) throws(InvalidField) {
        guard Self.isValidName(name) else {
            throw InvalidField("name", "use 1-64 of a-z 0-9 _ -")
        }
        guard stages.count >= 3, stages.count <= Self.maxStages else {
            throw InvalidField("stages", "give 3 to \(Self.maxStages) stages: open ones, then won, then lost")
        }
        var seen = Set<String>()
        for stage in stages {
            guard Self.isValidName(stage.name) else {
                throw InvalidField(stage.name, "stage names use 1-64 of a-z 0-9 _ -")
            }
            guard seen.insert(stage.name).inserted else {
                throw InvalidField(stage.name, "stage named twice")
            }
            guard (0...100).contains(stage.probability) else {
                throw InvalidField(stage.name, "probability must be from 0 to 100")
            }
        }
        guard stages[stages.count - 2].probability == 100 else {
            throw InvalidField(stages[stages.count - 2].name, "the second-last stage is the won stage: probability 100")
        }
        guard stages[stages.count - 1].probability == 0 else {
            throw InvalidField(stages[stages.count - 1].name, "the last stage is the lost stage: probability 0")
        }
        self.init(unchecked: name, stages: stages)
    }

    public var wonStage: String { stages[stages.count - 2].name }
    public var lostStage: String { stages[stages.count - 1].name }

    public func stage(named name: String) -> Stage? {
        stages.first { $0.name == name }
    }

    /// A deal's status at `stage`: open, won or lost.
    public func status(at stage: String) -> DealStatus {
        stage == wonStage ? .won : stage == lostStage ? .lost : .open
    }

    /// Moves a deal whose status was `wasStatus` (nil for a new deal) to
    /// `stage` in `changes`: the stage must be one of this pipeline's, the
    /// status follows the stage, a status change sets or clears the close
    /// time, and reopening clears the lost reason. Only DEAL.LOSE (which
    /// passes `wasStatus: .lost`) may reach the lost stage.
    public func move(
        to stage: String, wasStatus: DealStatus?, now: String, into changes: inout FieldChanges
    ) throws(InvalidField) {
        guard self.stage(named: stage) != nil else {
            throw InvalidField(
                "stage", "not a stage of pipeline \(name) (\(stages.map(\.name).joined(separator: ", ")))")
        }
        let status = status(at: stage)
        if status == .lost, wasStatus != .lost {
            throw InvalidField("stage", "a deal is lost with DEAL.LOSE id REASON text")
        }
        changes.set("stage", stage)
        guard status != wasStatus else { return }
        changes.set("status", status.rawValue)
        changes.set("closed_at", status == .open ? nil : now)
        if status == .open, wasStatus != nil { changes.set("lost_reason", nil) }
    }

    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
    }
}

/// Where a deal stands; derived from its pipeline stage.
public enum DealStatus: String, CaseIterable, Sendable {
    case open, won, lost
}
