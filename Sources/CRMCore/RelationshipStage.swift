/// The stage of a company relationship (DESIGN.md §1): it decides the
/// playbook, e.g. automatic reordering only at `partner`.
public enum RelationshipStage: String, CaseIterable, Sendable {
    case transaction, transition, partner, conflict

    /// Where a relationship may go from here: growing one step, cooling one
    /// step, breaking into conflict from anywhere, and a rescued conflict
    /// starting over at `transaction`.
    public var allowedMoves: [RelationshipStage] {
        switch self {
        case .transaction: [.transition, .conflict]
        case .transition: [.partner, .transaction, .conflict]
        case .partner: [.transition, .conflict]
        case .conflict: [.transaction]
        }
    }

    /// Checks a move, naming the allowed ones when it is refused.
    public func checkMove(to next: RelationshipStage) throws(InvalidField) {
        guard next != self else {
            throw InvalidField("stage", "is already \(rawValue)")
        }
        guard allowedMoves.contains(next) else {
            throw InvalidField(
                "stage",
                "cannot move from \(rawValue) to \(next.rawValue); allowed: "
                    + allowedMoves.map(\.rawValue).joined(separator: ", "))
        }
    }
}

/// The four relationship parameters, each scored 0–100, and the stage they point to.
public struct RelationshipScores: Sendable, Equatable {
    public var trust: Int
    public var commitment: Int
    public var interdependence: Int
    public var norms: Int

    public static let parameterNames = ["trust", "commitment", "interdependence", "norms"]

    public init(trust: Int, commitment: Int, interdependence: Int, norms: Int) {
        self.trust = trust
        self.commitment = commitment
        self.interdependence = interdependence
        self.norms = norms
    }

    /// The stage the scores suggest and the rule that decided it. Rules are
    /// tried in this order (documented in Protocols/COMMANDS.md):
    /// 1. conflict: interdependence ≥ 50 and (trust < 30 or norms < 30) — dependency without trust;
    /// 2. partner: all four ≥ 70;
    /// 3. transition: trust ≥ 50 and commitment ≥ 50;
    /// 4. transaction otherwise.
    public var suggestion: (stage: RelationshipStage, rule: String) {
        if interdependence >= 50, trust < 30 || norms < 30 {
            return (.conflict, "interdependence >= 50 and (trust < 30 or norms < 30)")
        }
        if min(trust, commitment, interdependence, norms) >= 70 {
            return (.partner, "trust, commitment, interdependence and norms all >= 70")
        }
        if trust >= 50, commitment >= 50 {
            return (.transition, "trust >= 50 and commitment >= 50")
        }
        return (.transaction, "no higher stage's rule holds")
    }
}
