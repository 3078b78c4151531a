import Foundation
import ReconcileDrivers
import ReconcileModel

/// One observation of the cluster: every node's engine info and container listing, read side by
/// side once per tick. The app planner's observation, the first DAG step of the tick, log
/// collection and log checks all read this one snapshot instead of listing every engine each.
public struct ClusterSnapshot: Sendable {
    public struct Node: Sendable {
        public var info: NodeInfo
        /// The listing (a summary on Docker: `Observer` reads replicas in full where needed).
        public var containers: [ContainerInfo]
    }

    /// Nodes that answered, by name; a node missing here did not answer.
    public var nodes: [String: Node]
    public var takenAt: Date

    public init(nodes: [String: Node], takenAt: Date) {
        self.nodes = nodes
        self.takenAt = takenAt
    }

    /// Reads every node side by side.
    public static func take(
        nodes: [NodeSpec], drivers: [String: any ContainerDriver], now: Date
    ) async
        -> ClusterSnapshot
    {
        await withTaskGroup(of: (String, Node?).self) { group in
            for node in nodes {
                guard let driver = drivers[node.name] else { continue }
                group.addTask {
                    do {
                        let info = try await driver.info()
                        return (node.name, Node(info: info, containers: try await driver.list()))
                    } catch {
                        return (node.name, nil)
                    }
                }
            }
            var result: [String: Node] = [:]
            for await (name, node) in group { if let node { result[name] = node } }
            return ClusterSnapshot(nodes: result, takenAt: now)
        }
    }

    /// Every listed container per node, for log collection and log checks.
    public var listings: [String: [ContainerInfo]] { nodes.mapValues(\.containers) }
}
