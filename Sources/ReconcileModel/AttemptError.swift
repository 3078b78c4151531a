/// Why a task attempt failed without an exit code of its own, was ended by the controller, or what its
/// exit code means (the kernel's OOM kill): stored with the attempt (its `error` column) and shown by
/// `runs show`, `explain`, the API and the run page.
public enum AttemptError: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The node refused to create or start the container (the engine's or driver's message).
    case startFailed(String)
    /// The image could not be pulled.
    case pullFailed(String)
    /// The node the attempt was recorded on is no longer declared or cannot run it.
    case unplaceable(String)
    /// Killed for running past the task's timeout.
    case timedOut(Timespan)
    /// Its container is gone from a node that answers (removed by hand, or the node lost it).
    case containerLost(node: String)
    /// A secret it needs could not be read.
    case secret(String)
    /// A sensor whose condition did not hold within its `timeout` (the last poll's answer).
    case waitTimedOut(Timespan, last: String)
    /// It exited 0 but its outputs file could not be taken (too large, a line not KEY=VALUE).
    case outputs(String)
    /// The kernel killed it for going over its memory limit (`resources.memory`, when known).
    case outOfMemory(limit: MemoryQuantity?)

    public var description: String {
        switch self {
        case .startFailed(let message): "start failed: \(message)"
        case .pullFailed(let message): "image pull failed: \(message)"
        case .unplaceable(let message): "unplaceable: \(message)"
        case .timedOut(let timeout): "killed at its timeout of \(timeout)"
        case .containerLost(let node): "its container is gone from node \(node)"
        case .secret(let message): "secret: \(message)"
        case .waitTimedOut(let timeout, let last): "waited \(timeout) in vain (last poll: \(last))"
        case .outputs(let message): "outputs: \(message)"
        case .outOfMemory(let limit):
            "out of memory: killed for going over its memory limit"
                + (limit.map { " of \($0)" } ?? "") + "; raise resources.memory or make it use less"
        }
    }
}
