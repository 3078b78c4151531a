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
    /// Each node's last reading and the last observation, reused while what they were made from is
    /// the same (see `ObservationMemory`); nil: every node read at every pass.
    let memory: ObservationMemory?

    public init(
        drivers: [String: any ContainerDriver], nodes: [NodeSpec], health: HealthMonitor = HealthMonitor(),
        memory: ObservationMemory? = nil
    ) {
        self.drivers = drivers
        self.nodes = nodes
        self.health = health
        self.memory = memory
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
        if let memory, let kept = memory.keptObservation,
            await unchanged(
                kept, desired: desired, unreachableSince: unreachableSince, lastSeen: lastSeen, snapshot: snapshot,
                now: now)
        {
            memory.observationReused()
            return kept.observation
        }
        let apps = Dictionary(desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let hashes = memory?.hashes(of: desired.apps) ?? apps.mapValues(SpecHash.of)
        typealias Read = ObservationMemory.Read
        let occupancy = Occupancy(desired)
        let memory = self.memory
        let health = self.health
        let results = await withTaskGroup(of: (NodeSpec, NodeInfo?, [Read], Resources).self) { group in
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
                        if let kept = memory?.reading(of: node.name, listing: listed) {
                            return (node, info, kept, tasks)
                        }
                        let read = try await Self.read(listed, node: node.name, driver: driver)
                        memory?.keep(read, of: node.name, listing: listed)
                        return (node, info, read, tasks)
                    } catch {
                        return (node, nil, [], .zero)
                    }
                }
            }
            var all: [(NodeSpec, NodeInfo?, [Read], Resources)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0.name < $1.0.name }
        }
        // Readiness, at every pass: the monitor (and its probes) for replicas of the App's current
        // revision with a probe, side by side; every other replica is ready while it runs.
        var readiness: [[Date?]] = results.map { Array(repeating: nil, count: $0.2.count) }
        // Whether this observation read the clock (then it is not kept for the next pass).
        var timeless = true
        var probed: [ObservationMemory.Probed] = []
        await withTaskGroup(of: (Int, Int, Int, Date?).self) { group in
            for (nodeIndex, result) in results.enumerated() {
                guard result.1 != nil, let driver = drivers[result.0.name] else { continue }
                for (index, read) in result.2.enumerated() {
                    if let app = apps[read.replica.app], app.health != nil, read.replica.specHash == hashes[app.name] {
                        let probedIndex = probed.count
                        probed.append(.init(node: result.0.name, app: app, info: read.info, readySince: nil))
                        group.addTask {
                            let since = await health.readySince(
                                app: app, container: read.info, driver: driver, now: now)
                            return (nodeIndex, index, probedIndex, since)
                        }
                    } else if read.info.status == .running {
                        // An old revision is ready while it runs (its probe may be gone from git).
                        if read.info.startedAt == nil { timeless = false }
                        readiness[nodeIndex][index] = read.info.startedAt ?? now
                    }
                }
            }
            for await (nodeIndex, index, probedIndex, since) in group {
                readiness[nodeIndex][index] = since
                probed[probedIndex].readySince = since
            }
        }
        var observed = Observed(nodes: [])
        var routes = RouteBuilder(apps: desired.apps)
        var ids: Set<String> = []
        for (nodeIndex, (node, info, seen, tasks)) in results.enumerated() {
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
            for index in seen.indices {
                let container = seen[index].info
                var replica = seen[index].replica
                replica.readySince = readiness[nodeIndex][index]
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
        let observation = Observation(observed: observed, published: published, routeErrors: routeErrors)
        if let memory {
            // Kept with what it was made from, unless it read the clock.
            var silent: [String: (since: Date, lastSeen: [ObservedContainer]?)] = [:]
            // A silent node whose outage starts now is left out: the next pass does not match it.
            for (node, info, _, _) in results where info == nil {
                if let since = unreachableSince[node.name] { silent[node.name] = (since, lastSeen[node.name]) }
            }
            memory.keep(
                timeless
                    ? ObservationMemory.KeptObservation(
                        desired: desired, answered: snapshot.nodes.filter { name, _ in reachableNodes.contains(name) },
                        silent: silent, probed: probed, observation: observation) : nil)
        }
        return observation
    }

    /// True when nothing this observation was made from changed: the same desired state, every node
    /// answering as before (a silent one with the same outage and last-seen replicas), and every
    /// probed replica given the readiness it had (the monitor probes those that are due).
    private func unchanged(
        _ kept: ObservationMemory.KeptObservation, desired: DesiredState, unreachableSince: [String: Date],
        lastSeen: [String: [ObservedContainer]], snapshot: ClusterSnapshot, now: Date
    ) async -> Bool {
        guard kept.desired == desired else { return false }
        for node in nodes where drivers[node.name] != nil {
            if let seen = snapshot.nodes[node.name] {
                guard let was = kept.answered[node.name], was.info == seen.info, was.networks == seen.networks,
                    ObservationMemory.sameStorage(was.containers, seen.containers)
                else { return false }
            } else {
                guard let was = kept.silent[node.name], unreachableSince[node.name] == was.since,
                    lastSeen[node.name] == was.lastSeen
                else { return false }
            }
        }
        let health = self.health
        let drivers = self.drivers
        return await withTaskGroup(of: Bool.self) { group in
            for replica in kept.probed {
                guard let driver = drivers[replica.node] else { return false }
                group.addTask {
                    await health.readySince(app: replica.app, container: replica.info, driver: driver, now: now)
                        == replica.readySince
                }
            }
            for await same in group where !same {
                group.cancelAll()
                return false
            }
            return true
        }
    }

    /// The replicas a node's listing shows, in (App, slot, id) order: each container's full state (a
    /// summary listing is completed container by container, side by side) and its labels read.
    /// DAG tasks and containers without our labels are left out.
    static func read(
        _ listed: [ContainerInfo], node: String, driver: any ContainerDriver
    ) async throws -> [ObservationMemory.Read] {
        typealias Read = ObservationMemory.Read
        let owned = listed.filter { $0.labels[DAGRunner.dagLabel] == nil }
        var read: [Read] = []
        if driver.listsFullState {
            read = owned.compactMap { full in
                OwnershipLabels.replica(full, node: node).map { Read(info: full, replica: $0) }
            }
        } else {
            read = try await withThrowingTaskGroup(of: Read?.self) { group in
                for container in owned {
                    group.addTask {
                        guard let full = try await driver.fullState(of: container),
                            let replica = OwnershipLabels.replica(full, node: node)
                        else { return nil }
                        return Read(info: full, replica: replica)
                    }
                }
                var all: [Read] = []
                for try await item in group { if let item { all.append(item) } }
                return all
            }
        }
        // Sorted by index (a comparison that reads the pairs themselves copies both of them); the id
        // orders two replicas of one slot (during a rollout), whatever order the inspects came back in.
        let keys = read.map { ($0.replica.app, $0.replica.slot, $0.replica.id) }
        return read.indices.sorted { keys[$0] < keys[$1] }.map { read[$0] }
    }
}
