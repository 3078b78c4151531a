import Foundation
import ReconcileModel
import ReconcileStore

/// Taking nodes out of service and back (`reconcile nodes drain|uncordon`, the API and the nodes page).
public struct DrainView: Codable, Sendable, Hashable {
    public var node: String
    /// "draining" or "schedulable".
    public var state: String
    public var since: Date?
    public var deadline: Date?

    public init(node: String, state: String, since: Date? = nil, deadline: Date? = nil) {
        self.node = node
        self.state = state
        self.since = since
        self.deadline = deadline
    }
}

public struct DrainRequest: Codable, Sendable {
    /// A duration (`10m`): replicas still on the node then are stopped without waiting for their
    /// replacements. Omitted: no deadline.
    public var deadline: String?

    public init(deadline: String? = nil) { self.deadline = deadline }
}

extension Queries {
    /// Drains a node of `state` (or one the controller still manages after its removal from git).
    public func drain(_ node: String, deadline: String?, in state: DesiredState, now: Date) throws -> DrainView {
        try requireNode(node, in: state)
        var until: Date?
        if let deadline {
            do {
                until = now.addingTimeInterval(try Timespan(parsing: deadline).seconds)
            } catch {
                throw Failure(.invalid, "deadline: \(error.message)")
            }
        }
        try store.drainNode(node, since: now, deadline: until)
        let drain = try store.nodeDrains()[node]
        return DrainView(node: node, state: "draining", since: drain?.since, deadline: drain?.deadline)
    }

    /// Ends a drain; the node takes new work again on the next pass.
    public func uncordon(_ node: String, in state: DesiredState) throws -> DrainView {
        try requireNode(node, in: state)
        guard state.nodes.contains(where: { $0.name == node }) else {
            throw Failure(.conflict, "node \(node) was removed from git; it stays drained until it is empty")
        }
        try store.uncordonNode(node)
        return DrainView(node: node, state: "schedulable")
    }

    private func requireNode(_ node: String, in state: DesiredState) throws {
        let known = Set(state.nodes.map(\.name)).union(try store.knownNodes().keys)
        guard known.contains(node) else {
            let names = known.sorted()
            throw Failure(
                .notFound,
                "no node \(node); "
                    + (names.isEmpty ? "the repository declares no Node" : "nodes: \(names.joined(separator: ", "))"))
        }
    }
}
