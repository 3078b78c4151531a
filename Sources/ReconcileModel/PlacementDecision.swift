// The words of a placement decision, stored with each replica and each waiting task: the node
// chosen and its score, and every other node with its reason. The node ledger (ReconcilePlanner)
// makes them; the store keeps them; `reconcile explain` shows them.

/// A node that was not chosen, and why. Kept as values (a plan places thousands of replicas over
/// many nodes); the words are made only when a person reads them.
public struct PlacementRejection: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Cause: Sendable, Hashable, Codable {
        case notAnswering
        /// Taken out of service (`schedulable: false`, `reconcile nodes drain`, or removed from git).
        case draining
        /// Its kind or labels (NodeRequirement's words).
        case cannotRun(String)
        /// Held for App replicas waiting for room (tasks only).
        case held(apps: [String])
        case memory(needs: Int64, free: Int64)
        case cpu(needs: Int64, free: Int64)
        /// It fits, but another node scores better.
        case ranksLower(PlacementScore)
    }

    public var node: String
    public var cause: Cause

    public init(node: String, cause: Cause) {
        self.node = node
        self.cause = cause
    }

    public var reason: String {
        switch cause {
        case .notAnswering: "not answering"
        case .draining: "draining (takes no new work)"
        case .cannotRun(let reason): reason
        case .held(let apps):
            "held for App replicas waiting for room (\(apps.joined(separator: ", "))); Apps are placed before tasks"
        case .memory(let needs, let free):
            "needs memory \(MemoryQuantity(bytes: needs)), \(MemoryQuantity(bytes: max(0, free))) free"
        case .cpu(let needs, let free):
            "needs cpu \(CPUQuantity(millicores: needs)), \(CPUQuantity(millicores: max(0, free))) free"
        case .ranksLower(let score): "fits, but ranks lower: \(score)"
        }
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
