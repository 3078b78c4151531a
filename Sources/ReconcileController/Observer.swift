import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner

/// Reads what runs on every node, concurrently. A node that does not answer is reported as
/// unreachable (with the time it was first seen so), not as an error of the pass.
public struct Observer: Sendable {
    let drivers: [String: any ContainerDriver]
    let nodes: [NodeSpec]

    public init(drivers: [String: any ContainerDriver], nodes: [NodeSpec]) {
        self.drivers = drivers
        self.nodes = nodes
    }

    public func observe(desired: DesiredState, unreachableSince: [String: Date] = [:], now: Date) async -> Observed {
        let resources = Dictionary(desired.apps.map { ($0.name, $0.resources) }, uniquingKeysWith: { a, _ in a })
        let results = await withTaskGroup(of: (NodeSpec, NodeInfo?, [ContainerInfo]).self) { group in
            for node in nodes {
                guard let driver = drivers[node.name] else { continue }
                group.addTask {
                    do {
                        let info = try await driver.info()
                        // A listing is a summary; readiness and exit codes need each container's full state.
                        var containers: [ContainerInfo] = []
                        for listed in try await driver.list() {
                            if let full = try await driver.inspect(listed.id) { containers.append(full) }
                        }
                        return (node, info, containers)
                    } catch {
                        return (node, nil, [])
                    }
                }
            }
            var all: [(NodeSpec, NodeInfo?, [ContainerInfo])] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0.name < $1.0.name }
        }
        var observed = Observed(nodes: [])
        for (node, info, containers) in results {
            observed.nodes.append(
                ObservedNode(
                    name: node.name, capacity: node.capacity ?? info?.capacity ?? .defaultRequest, labels: node.labels,
                    isProcessNode: node.isProcessNode,
                    unreachableSince: info == nil ? (unreachableSince[node.name] ?? now) : nil))
            for container in containers {
                guard var replica = OwnershipLabels.replica(container, node: node.name) else { continue }
                // What a replica reserves is what its App asks for (also for containers of an old revision).
                replica.resources = resources[replica.app] ?? replica.resources
                observed.containers.append(replica)
            }
        }
        return observed
    }
}
