import Foundation

/// Why a task of a running run is not running now: the one answer `reconcile explain task` gives, stored
/// with the run so the CLI, the API and the UI all show it.
public enum WaitingReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Upstream tasks that have not finished yet: the first few by name, and how many more.
    case upstream([String], more: Int = 0)
    /// The run has not started: `maxActiveRuns` runs of the DAG are under way.
    case maxActiveRuns(Int)
    /// Ready, but no node can take it now (the ledger's line; each node's reason beside it).
    case room(String, rejected: [PlacementRejection])
    /// Failed; the next try starts at this instant.
    case retry(at: Date, tryNumber: Int)
    /// Ready, but every slot of its Pool is taken.
    case pool(String, inUse: Int, slots: Int)

    public var description: String {
        switch self {
        case .upstream(let names, let more):
            "waiting on upstream \(names.joined(separator: ", "))" + (more > 0 ? " and \(more) more" : "")
        case .maxActiveRuns(let limit):
            "run queued: maxActiveRuns \(limit) under way"
        case .room(let reason, _):
            "queued for room: \(reason)"
        case .retry(let at, let tryNumber):
            "try \(tryNumber) at \(ISO8601DateFormatter().string(from: at))"
        case .pool(let pool, let inUse, let slots):
            "waiting for pool \(pool) (\(inUse)/\(slots) in use)"
        }
    }
}
