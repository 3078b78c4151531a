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

    /// 300 seeded clusters (the seed is in every message, so a failure replays with one number).
    /// `maxUnavailable` is drawn from 0...2, 0 (the default) included, with `maxSurge` at least 1
    /// when it is 0 (validation refuses both at 0). Each App that could be placed is checked even
    /// when another App of the same cluster could not; the count of Apps and seeds that reached
    /// those checks is asserted, so a generator that never fits anything fails the test.
    /// The seeds run on a thread of their own (seconds of planning; see `Blocking`); what they found
    /// is asserted here.
    @Test func applyingThePlanConverges() async {
        let results = await Blocking.run { (0..<300).map { Self.converge(seed: $0) } }
        let problems = results.flatMap(\.problems)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
        let checkedApps = results.map(\.checked).reduce(0, +)
        let seedsFullyChecked = results.filter(\.fully).count
        let zeroUnavailableChecked = results.map(\.zeroUnavailable).reduce(0, +)
        #expect(checkedApps >= 1_000, "only \(checkedApps) Apps reached the per-App checks")
        #expect(seedsFullyChecked >= 150, "only \(seedsFullyChecked) of 300 seeds had every App placed")
        #expect(zeroUnavailableChecked >= 300, "only \(zeroUnavailableChecked) Apps with maxUnavailable 0 checked")
    }

    /// What one seed came to: how many Apps were checked, whether every App of both commits was, how
    /// many of the checked ones had `maxUnavailable: 0`, and what was wrong (each naming the seed).
    struct Outcome: Sendable {
        var checked = 0
        var fully = true
        var zeroUnavailable = 0
        var problems: [String] = []
    }

    /// Converges one seeded cluster through two commits.
    static func converge(seed: Int) -> Outcome {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 17)
        let nodes = (0..<Int.random(in: 1...5, using: &rng)).map {
            node(
                "n\($0)", cpu: Int64.random(in: 2...16, using: &rng) * 1000,
                memory: Int64.random(in: 2...32, using: &rng) * gi)
        }
        func randomApps(image: String) -> [AppSpec] {
            (0..<Int.random(in: 0...8, using: &rng)).map { index in
                let maxUnavailable = Int.random(in: 0...2, using: &rng)
                return app(
                    "app-\(index)", replicas: Int.random(in: 0...5, using: &rng), image: image,
                    cpu: Int64.random(in: 1...8, using: &rng) * 250,
                    memory: Int64.random(in: 1...8, using: &rng) * (256 << 20),
                    maxSurge: Int.random(in: (maxUnavailable == 0 ? 1 : 0)...2, using: &rng),
                    maxUnavailable: maxUnavailable, spread: Bool.random(using: &rng))
            }
        }
        var containers: [ObservedContainer] = []
        var outcome = Outcome()
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { outcome.problems.append(message()) }
        }
        // Converge to one commit, then to a second one that changes images and replica counts.
        for apps in [randomApps(image: "img:1"), randomApps(image: "img:2")] {
            var final: Plan?
            for _ in 0..<40 {
                let result = plan(apps, nodes, containers)
                containers = Self.apply(result, to: containers)
                for node in nodes {
                    let used = containers.filter { $0.node == node.name }
                    let cpu = used.reduce(0) { $0 + $1.resources.cpu.millicores }
                    let memory = used.reduce(0) { $0 + $1.resources.memory.bytes }
                    check(
                        cpu <= node.capacity.cpu.millicores && memory <= node.capacity.memory.bytes,
                        "seed \(seed): \(node.name) overcommitted")
                }
                if result.actions.isEmpty {
                    final = result
                    break
                }
            }
            // A fixed point is reached: planning again changes nothing.
            guard let final else {
                outcome.problems.append("seed \(seed) did not reach a fixed point in 40 passes")
                outcome.fully = false
                return outcome
            }
            check(plan(apps, nodes, containers).actions.isEmpty, "seed \(seed): planning again changes something")
            // Every App that could be placed runs its desired revision once per slot, whatever
            // happened to the others.
            let blocked = Set(final.changes.filter { !$0.unplaceable.isEmpty }.map(\.app))
            outcome.fully = outcome.fully && blocked.isEmpty
            for spec in apps where !blocked.contains(spec.name) {
                let running = containers.filter { $0.app == spec.name }
                check(running.count == spec.replicas, "seed \(seed) \(spec.name): \(running.count) replicas")
                check(Set(running.map(\.slot)) == Set(0..<spec.replicas), "seed \(seed) \(spec.name): slots")
                check(running.allSatisfy { $0.specHash == SpecHash.of(spec) }, "seed \(seed) \(spec.name): revision")
                outcome.checked += 1
                if spec.update.maxUnavailable == 0 { outcome.zeroUnavailable += 1 }
            }
        }
        return outcome
    }
}
