import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileTesting
import Testing

/// Applying a plan to a simulated cluster and planning again converges to an empty plan, and no
/// node is ever overcommitted on the way.
@Suite struct ConvergenceTests {
    /// What the executor would do, instantly: stops remove, starts run and are ready at once.
    static func apply(_ plan: Plan, to containers: [ObservedContainer]) -> [ObservedContainer] {
        let stopped = Set(plan.stops.map(\.containerID))
        var result = containers.filter { !stopped.contains($0.id) }
        for start in plan.starts {
            result.append(
                ObservedContainer(
                    id: start.name + "-" + start.node, node: start.node, app: start.app, slot: start.slot,
                    specHash: start.specHash, resources: start.resources, readySince: now.addingTimeInterval(-3600),
                    startedAt: now))
        }
        return result
    }

    @Test(arguments: 0..<200)
    func applyingThePlanConverges(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 17)
        let nodes = (0..<Int.random(in: 1...5, using: &rng)).map {
            node(
                "n\($0)", cpu: Int64.random(in: 2...16, using: &rng) * 1000,
                memory: Int64.random(in: 2...32, using: &rng) * gi)
        }
        func randomApps(image: String) -> [AppSpec] {
            (0..<Int.random(in: 0...8, using: &rng)).map { index in
                app(
                    "app-\(index)", replicas: Int.random(in: 0...5, using: &rng), image: image,
                    cpu: Int64.random(in: 1...8, using: &rng) * 250,
                    memory: Int64.random(in: 1...8, using: &rng) * (256 << 20),
                    maxSurge: Int.random(in: 0...2, using: &rng), maxUnavailable: Int.random(in: 1...2, using: &rng),
                    spread: Bool.random(using: &rng))
            }
        }
        var containers: [ObservedContainer] = []
        // Converge to one commit, then to a second one that changes images and replica counts.
        for apps in [randomApps(image: "img:1"), randomApps(image: "img:2")] {
            var final: Plan?
            for _ in 0..<30 {
                let result = plan(apps, nodes, containers)
                containers = Self.apply(result, to: containers)
                for node in nodes {
                    let used = containers.filter { $0.node == node.name }
                    let cpu = used.reduce(0) { $0 + $1.resources.cpu.millicores }
                    let memory = used.reduce(0) { $0 + $1.resources.memory.bytes }
                    #expect(cpu <= node.capacity.cpu.millicores && memory <= node.capacity.memory.bytes)
                }
                if result.actions.isEmpty {
                    final = result
                    break
                }
            }
            // A fixed point is reached: planning again changes nothing.
            guard let final else {
                Issue.record("seed \(seed) did not reach a fixed point in 30 passes")
                return
            }
            #expect(plan(apps, nodes, containers).actions.isEmpty)
            // When everything fits, every app runs its desired revision once per slot.
            if final.changes.allSatisfy({ $0.unplaceable.isEmpty }) {
                for spec in apps {
                    let running = containers.filter { $0.app == spec.name }
                    #expect(running.count == spec.replicas, "seed \(seed) \(spec.name)")
                    #expect(Set(running.map(\.slot)) == Set(0..<spec.replicas))
                    #expect(running.allSatisfy { $0.specHash == SpecHash.of(spec) })
                }
            }
        }
    }
}
