import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// The nodes a pass manages: git's Nodes with the drains asked for (`reconcile nodes drain`), and
/// Nodes removed from git, which are drained like any other (through the spec the controller
/// remembered) and forgotten only once nothing of ours runs on them.
public enum ClusterNodes {
    public struct Resolved: Sendable, Hashable {
        /// The Nodes in git, each with its drain (if any).
        public var declared: [NodeSpec]
        /// Nodes removed from git that may still run something of ours: draining.
        public var retired: [NodeSpec]

        public var all: [NodeSpec] { declared + retired }
    }

    /// Reads the drains and the remembered nodes, and remembers git's nodes (written only when a
    /// spec changed). A node first seen missing from git starts draining now.
    public static func resolve(declared: [NodeSpec], store: Store, now: Date) throws -> Resolved {
        var drains = try store.nodeDrains()
        let known = try store.knownNodes()
        for node in declared {
            var plain = node
            plain.drain = nil
            if known[node.name] != plain { try store.rememberNode(plain) }
        }
        let names = Set(declared.map(\.name))
        var retired: [NodeSpec] = []
        for (name, spec) in known.sorted(by: { $0.key < $1.key }) where !names.contains(name) {
            if drains[name] == nil {
                try store.drainNode(name, since: now, deadline: nil)
                drains[name] = NodeSpec.Drain(cause: .requested, since: now)
            }
            var node = spec
            node.drain = drains[name]
            node.drain?.cause = .removedFromGit
            retired.append(node)
        }
        let resolved = declared.map { node in
            var node = node
            node.drain = drains[node.name]
            return node
        }
        return Resolved(declared: resolved, retired: retired)
    }

    /// Git's nodes with the drains kept in the store, read only (a one-shot pass, `status`): a node
    /// drained with `reconcile nodes drain` takes no work there either.
    public static func withDrains(_ declared: [NodeSpec], store: Store) throws -> [NodeSpec] {
        let drains = try store.nodeDrains()
        return declared.map { node in
            var node = node
            node.drain = drains[node.name]
            return node
        }
    }

    /// Forgets the retired nodes that answer with nothing of ours on them, and those lost for good
    /// (not answering past `lostAfter`: their replicas were replaced elsewhere). Returns their names.
    public static func forgetEmpty(
        _ retired: [NodeSpec], snapshot: ClusterSnapshot, observed: Observed, lostAfter: Timespan, now: Date,
        store: Store
    ) throws -> [String] {
        var forgotten: [String] = []
        for node in retired {
            let empty = snapshot.nodes[node.name].map { $0.containers.isEmpty } ?? false
            let since = observed.nodes.first { $0.name == node.name }?.unreachableSince
            let lost = since.map { now.timeIntervalSince($0) >= lostAfter.seconds } ?? false
            guard empty || lost else { continue }
            try store.forgetNode(node.name)
            forgotten.append(node.name)
        }
        return forgotten
    }
}
