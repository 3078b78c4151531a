import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

@Suite(.serialized) struct PlacementEndToEndTests {
    /// Three dockerd nodes (4 cpu, 2Gi declared each): 12 replicas of three sizes are placed without
    /// overcommitting any node; when one node's dockerd stops, its replicas start on the other two once
    /// the grace period has passed, and not before.
    /// Runs alone among the heavy end-to-end tests (see HeavyTests).
    @Test(.timeLimit(.minutes(15))) func twelveReplicasArePlacedAndMoveOffALostNode() async throws {
        try await HeavyTests.exclusive { try await twelveReplicasArePlacedAndMoveOffALostNodeAlone() }
    }

    func twelveReplicasArePlacedAndMoveOffALostNodeAlone() async throws {
        let engines = try await Blocking.run { try (0..<3).map { _ in try DockerEngine() } }
        defer { for engine in engines { engine.shutdown() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("place-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let capacity = Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 2 << 30))
        let names = ["node-a", "node-b", "node-c"]
        let nodes = zip(names, engines).map { name, engine in
            NodeSpec(name: name, backend: .docker(endpoint: engine.endpoint, tls: nil), capacity: capacity)
        }
        var drivers: [String: any ContainerDriver] = [:]
        for (name, engine) in zip(names, engines) {
            drivers[name] = try DockerDriver(
                node: name, endpoint: engine.endpoint, address: engine.publishAddress)
        }
        func sized(_ name: String, cpu: Int64, memory: Int64) -> AppSpec {
            AppSpec(
                name: name, image: TestImage.name,
                command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"], replicas: 4,
                resources: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory)),
                update: UpdateStrategy(stopGracePeriod: .seconds(2)))
        }
        // 7 cpu and 2.5Gi in all: fits on two nodes, so losing one leaves room for everything.
        let apps = [
            sized("large", cpu: 1000, memory: 256 << 20), sized("medium", cpu: 500, memory: 256 << 20),
            sized("small", cpu: 250, memory: 128 << 20),
        ]
        let resources = Dictionary(uniqueKeysWithValues: apps.map { ($0.name, $0.resources) })
        let desired = DesiredState(nodes: nodes, apps: apps)
        let grace = Timespan.seconds(4)
        let reconciler = Reconciler(
            pass: Pass(nodes: nodes, drivers: drivers, options: PlannerOptions(nodeLostAfter: grace)),
            store: try Store(stateDirectory: folder))

        /// Running replicas per node, read from the engines (not from the planner).
        func running(on skip: Set<String> = []) async throws -> [String: [ContainerInfo]] {
            var result: [String: [ContainerInfo]] = [:]
            for name in names where !skip.contains(name) {
                result[name] = try await drivers[name]!.list().filter { $0.status == .running }
            }
            return result
        }
        func expectNoOvercommit(_ placed: [String: [ContainerInfo]]) {
            for (name, containers) in placed {
                let cpu = containers.compactMap { resources[$0.labels[OwnershipLabels.app] ?? ""]?.cpu.millicores }
                    .reduce(0, +)
                let memory = containers.compactMap {
                    resources[$0.labels[OwnershipLabels.app] ?? ""]?.memory.bytes
                }.reduce(0, +)
                #expect(cpu <= capacity.cpu.millicores, "\(name): \(cpu)m of cpu booked")
                #expect(memory <= capacity.memory.bytes, "\(name): \(memory) bytes booked")
            }
        }

        var passes = 0
        while passes < 10 {
            let result = try await reconciler.run(desired: desired, revision: "one", dryRun: false, now: Date())
            #expect(result.failures.isEmpty, "\(result.failures)")
            passes += 1
            if result.plan.actions.isEmpty { break }
        }
        let placed = try await running()
        #expect(placed.values.map(\.count).reduce(0, +) == 12)
        expectNoOvercommit(placed)

        // Stop the node with the most replicas.
        let victim = try #require(placed.max { $0.value.count < $1.value.count }?.key)
        let moved = placed[victim]!.count
        engines[names.firstIndex(of: victim)!].stop()
        let lostAt = Date()

        // Within the grace period nothing moves.
        let early = try await reconciler.run(desired: desired, revision: "one", dryRun: false, now: Date())
        if Date().timeIntervalSince(lostAt) < grace.seconds {
            #expect(early.plan.starts.isEmpty, "replicas moved before the grace period: \(early.plan.starts)")
        }
        #expect(early.observed.nodes.first { $0.name == victim }?.unreachableSince != nil)
        #expect(try reconciler.store.unreachableNodes()[victim] != nil)

        var movedAt: Date?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let result = try await reconciler.run(desired: desired, revision: "one", dryRun: false, now: Date())
            if movedAt == nil, !result.plan.starts.isEmpty { movedAt = Date() }
            #expect(result.plan.starts.allSatisfy { $0.node != victim })
            let survivors = try await running(on: [victim])
            if survivors.values.map(\.count).reduce(0, +) == 12, result.plan.starts.isEmpty { break }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        let survivors = try await running(on: [victim])
        #expect(survivors.values.map(\.count).reduce(0, +) == 12, "replicas on the other nodes: \(survivors)")
        expectNoOvercommit(survivors)
        let waited = try #require(movedAt).timeIntervalSince(lostAt)
        #expect(waited >= grace.seconds, "moved \(moved) replicas after \(waited)s, grace \(grace)")
        for engine in engines { await engine.shutdownOffPool() }
    }
}
