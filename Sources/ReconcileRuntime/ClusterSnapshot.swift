import Foundation
import ReconcileDrivers
import ReconcileModel
import Synchronization

/// One observation of the cluster: every node's engine info and container listing, read side by
/// side once per tick. The app planner's observation, the first DAG step of the tick, log
/// collection and log checks all read this one snapshot instead of listing every engine each.
public struct ClusterSnapshot: Sendable {
    public struct Node: Sendable {
        public var info: NodeInfo
        /// The listing (a summary on Docker: `Observer` reads replicas in full where needed).
        public var containers: [ContainerInfo]
        /// The node's Docker networks, read only when some workload names one (`network:`).
        public var networks: Set<String>?

        public init(info: NodeInfo, containers: [ContainerInfo], networks: Set<String>? = nil) {
            self.info = info
            self.containers = containers
            self.networks = networks
        }
    }

    /// Nodes that answered, by name; a node missing here did not answer.
    public var nodes: [String: Node]
    public var takenAt: Date

    public init(nodes: [String: Node], takenAt: Date) {
        self.nodes = nodes
        self.takenAt = takenAt
    }

    /// Reads every node side by side.
    /// - Parameter networks: also read each node's Docker networks (some workload names one).
    public static func take(
        nodes: [NodeSpec], drivers: [String: any ContainerDriver], now: Date, networks: Bool = false
    ) async
        -> ClusterSnapshot
    {
        let answered = await perNode(nodes, drivers: drivers) { driver -> Node? in
            guard let info = try? await driver.info(), let containers = try? await driver.list() else { return nil }
            let names = networks ? (try? await driver.networks()) ?? nil : nil
            return Node(info: info, containers: containers, networks: names)
        }
        return ClusterSnapshot(nodes: answered, takenAt: now)
    }

    /// `read` on every node that has a driver, side by side; the nodes that gave an answer, by name.
    /// Each child task stores its answer itself; nothing is returned through the group: a group
    /// returning `(String, Node?)` (and then `(Int, Node?)`) handed back corrupted values in release
    /// builds (Swift 6.3.1: a crash hashing the name, a wild index, or the node reported not
    /// answering), while debug builds were fine.
    static func perNode<Answer: Sendable>(
        _ nodes: [NodeSpec], drivers: [String: any ContainerDriver],
        _ read: @escaping @Sendable (any ContainerDriver) async -> Answer?
    ) async -> [String: Answer] {
        let answered = Collected<[String: Answer]>([:])
        await withTaskGroup(of: Void.self) { group in
            for node in nodes {
                guard let driver = drivers[node.name] else { continue }
                let name = node.name
                group.addTask {
                    guard let answer = await read(driver) else { return }
                    answered.value.withLock { $0[name] = answer }
                }
            }
        }
        return answered.value.withLock { $0 }
    }

    /// True when some App or task names a Docker network: the nodes' networks are then read.
    public static func needsNetworks(_ desired: DesiredState) -> Bool {
        desired.apps.contains { $0.network.requiredNetwork != nil }
            || desired.dags.contains { $0.tasks.contains { $0.network.requiredNetwork != nil } }
    }

    /// Every listed container per node, for log collection and log checks.
    public var listings: [String: [ContainerInfo]] { nodes.mapValues(\.containers) }
}

/// What the children of a task group collect, each storing its own answer under the lock.
final class Collected<Value: Sendable>: Sendable {
    let value: Mutex<Value>

    init(_ initial: Value) { value = Mutex(initial) }
}
