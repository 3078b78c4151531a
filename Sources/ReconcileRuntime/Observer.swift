import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRouter

/// What one observation found: the planner's view, and what each published port serves.
public struct Observation: Sendable {
    public var observed: Observed
    /// Published port -> its routes and their ready replicas, for the router.
    public var published: [Int: PublishedPort]
    /// TLS certificates that could not be read (their ports are not served).
    public var routeErrors: [String] = []
}

/// Reads what runs on every node, concurrently, and probes each replica's health (through the
/// monitor, at most once per probe interval). A node that does not answer is reported as
/// unreachable (since the time it was first seen so), not as an error of the pass.
public struct Observer: Sendable {
    let drivers: [String: any ContainerDriver]
    let nodes: [NodeSpec]
    let health: HealthMonitor

    public init(drivers: [String: any ContainerDriver], nodes: [NodeSpec], health: HealthMonitor = HealthMonitor()) {
        self.drivers = drivers
        self.nodes = nodes
        self.health = health
    }

    /// - Parameter lastSeen: per node, the replicas last seen there; an unreachable node is taken to
    ///   still run them (its replicas are neither counted missing nor placed elsewhere until the planner
    ///   declares the node lost).
    /// - Parameter snapshot: the tick's snapshot; without one, every node is read here.
    public func observe(
        desired: DesiredState, unreachableSince: [String: Date] = [:], lastSeen: [String: [ObservedContainer]] = [:],
        now: Date, snapshot: ClusterSnapshot? = nil
    ) async -> Observation {
        let snapshot =
            if let snapshot {
                snapshot
            } else {
                await ClusterSnapshot.take(
                    nodes: nodes, drivers: drivers, now: now, networks: ClusterSnapshot.needsNetworks(desired))
            }
        let apps = Dictionary(desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let hashes = apps.mapValues(SpecHash.of)
        typealias Seen = (info: ContainerInfo, replica: ObservedContainer)
        let occupancy = Occupancy(desired)
        let results = await withTaskGroup(of: (NodeSpec, NodeInfo?, [Seen], Resources).self) { group in
            for node in nodes {
                guard let driver = drivers[node.name] else { continue }
                let seenNode = snapshot.nodes[node.name]
                group.addTask {
                    do {
                        guard let seenNode else { return (node, nil, [], .zero) }
                        let info = seenNode.info
                        let listed = seenNode.containers
                        // DAG tasks take room replicas cannot have (the ledger counts replicas themselves).
                        let tasks = listed.filter(Occupancy.occupies).compactMap(occupancy.task).reduce(
                            Resources.zero, +)
                        // A listing is a summary: readiness and exit codes need each container's full state.
                        let seen = try await withThrowingTaskGroup(of: Seen?.self) { inner in
                            for container in listed where container.labels[DAGRunner.dagLabel] == nil {
                                inner.addTask {
                                    let full = try await driver.fullState(of: container)
                                    guard let full,
                                        var replica = OwnershipLabels.replica(full, node: node.name)
                                    else { return nil }
                                    if let app = apps[replica.app], replica.specHash == hashes[replica.app] {
                                        replica.readySince = await health.readySince(
                                            app: app, container: full, driver: driver, now: now)
                                    } else if full.status == .running {
                                        // An old revision is ready while it runs (its probe may be gone from git).
                                        replica.readySince = full.startedAt ?? now
                                    }
                                    return (full, replica)
                                }
                            }
                            var all: [Seen] = []
                            for try await item in inner { if let item { all.append(item) } }
                            return all
                        }
                        return (node, info, seen, tasks)
                    } catch {
                        return (node, nil, [], .zero)
                    }
                }
            }
            var all: [(NodeSpec, NodeInfo?, [Seen], Resources)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0.name < $1.0.name }
        }
        var observed = Observed(nodes: [])
        var routes = RouteBuilder(apps: desired.apps)
        var ids: Set<String> = []
        for (node, info, seen, tasks) in results {
            observed.nodes.append(
                ObservedNode(
                    name: node.name, capacity: node.capacity ?? info?.capacity ?? .defaultRequest, labels: node.labels,
                    isProcessNode: node.isProcessNode,
                    unreachableSince: info == nil ? (unreachableSince[node.name] ?? now) : nil, tasks: tasks,
                    schedulable: node.acceptsWork, drainDeadline: node.drain?.deadline,
                    networks: snapshot.nodes[node.name]?.networks))
            if info == nil {
                observed.containers += (lastSeen[node.name] ?? []).map { replica in
                    var replica = replica
                    replica.resources = apps[replica.app]?.resources ?? replica.resources
                    return replica
                }
                continue
            }
            // Sorted by index: a comparison that reads the pairs themselves copies both of them.
            let keys = seen.map { ($0.replica.app, $0.replica.slot) }
            for index in seen.indices.sorted(by: { keys[$0] < keys[$1] }) {
                let container = seen[index].info
                var replica = seen[index].replica
                ids.insert(replica.id)
                // What a replica reserves is what its App asks for (also for containers of an old revision).
                replica.resources = apps[replica.app]?.resources ?? replica.resources
                observed.containers.append(replica)
                guard replica.isRunning, replica.readySince != nil, let app = apps[replica.app] else { continue }
                for port in app.ports {
                    guard let publish = port.publish, let hostPort = container.ports[port.container] else { continue }
                    routes.add(
                        Backend(id: replica.id, host: container.hostAddress, port: hostPort), app: app.name,
                        port: port.name, publish: publish)
                }
            }
        }
        let reachableNodes = Set(results.filter { $0.1 != nil }.map { $0.0.name })
        if reachableNodes.count == results.count { await health.keep(only: ids) }
        let (published, routeErrors) = routes.build()
        return Observation(observed: observed, published: published, routeErrors: routeErrors)
    }
}
