// The words of a placement decision, stored with each replica and each waiting task: the node
// chosen and its score, and every other node with its reason. The node ledger (ReconcilePlanner)
// makes them; the store keeps them; `reconcile explain` shows them.

/// A node that was not chosen, and why.
public struct PlacementRejection: Sendable, Hashable, Codable, CustomStringConvertible {
    public var node: String
    public var reason: String

    public init(node: String, reason: String) {
        self.node = node
        self.reason = reason
    }

    public var description: String { "\(node): \(reason)" }
}

/// How good a fitting node is; lower ranks first. In order: do not open an empty node while the
/// nodes in use can take the work (bin-packing: the fewest nodes, like ECS binpack); fewer
/// replicas of the same App there (spread); then the most room left in the scarcer resource, so
/// nodes fill evenly in cpu and memory and one resource is not stranded.
public struct PlacementScore: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The node is empty and the nodes in use already number the target.
    public var opensNode: Bool
    /// Replicas of the same App already there (0 when the App does not spread).
    public var sameApp: Int
    /// Fractions of the node's capacity left after this placement.
    public var cpuLeft: Double
    public var memoryLeft: Double

    public init(opensNode: Bool, sameApp: Int, cpuLeft: Double, memoryLeft: Double) {
        self.opensNode = opensNode
        self.sameApp = sameApp
        self.cpuLeft = cpuLeft
        self.memoryLeft = memoryLeft
    }

    public var scarcerLeft: Double { min(cpuLeft, memoryLeft) }

    public static func < (a: PlacementScore, b: PlacementScore) -> Bool {
        (a.opensNode ? 1 : 0, a.sameApp, -a.scarcerLeft) < (b.opensNode ? 1 : 0, b.sameApp, -b.scarcerLeft)
    }

    public var description: String {
        var parts = ["\(Int((cpuLeft * 100).rounded()))% cpu and \(Int((memoryLeft * 100).rounded()))% memory left"]
        if sameApp > 0 { parts.append("\(sameApp) replica\(sameApp == 1 ? "" : "s") of the app already there") }
        if opensNode { parts.append("would open an empty node") }
        return parts.joined(separator: ", ")
    }
}

/// Where a workload went and why: the chosen node's score, and every other node with the reason it
/// was not chosen (cannot run it, no room, or a worse score).
public struct PlacementDecision: Sendable, Hashable, Codable {
    public var node: String
    public var score: PlacementScore
    public var rejected: [PlacementRejection]

    public init(node: String, score: PlacementScore, rejected: [PlacementRejection]) {
        self.node = node
        self.score = score
        self.rejected = rejected
    }
}
