import Foundation
import ReconcileModel
import ReconcilePlanner

/// Planning 2,000 apps over 10 nodes: a full plan (nothing runs yet) and a no-op plan (everything
/// runs as desired), timed; and the nodes the placement uses against the lower bound
/// (total requests / one node's capacity, for the scarcer of cpu and memory).
func runPlanBenchmark(_ options: Options) {
    let appCount = options.apps
    let nodeCount = 10
    var generator = SystemRandomNumberGenerator()
    _ = generator.next()
    let nodes = (0..<nodeCount).map {
        ObservedNode(
            name: "node-\($0)",
            capacity: Resources(cpu: CPUQuantity(millicores: 800_000), memory: MemoryQuantity(bytes: 768 << 30)))
    }
    // Mixed sizes, deterministic: 1-4 replicas of 250m-2 cores and 128Mi-2Gi.
    let apps = (0..<appCount).map { index in
        AppSpec(
            name: "app-\(index)", image: "registry.example/app-\(index):1", replicas: 1 + index % 4,
            resources: Resources(
                cpu: CPUQuantity(millicores: Int64(250 * (1 + index % 8))),
                memory: MemoryQuantity(bytes: Int64(128 << 20) * Int64(1 + (index * 7) % 16))),
            placement: Placement(spread: ProcessInfo.processInfo.environment["BENCH_NO_SPREAD"] == nil))
    }
    let desired = DesiredState(apps: apps)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    var fullTimes: [Double] = []
    var full = Planner.plan(desired: desired, observed: Observed(nodes: nodes), now: now)
    for _ in 0..<options.runs {
        let start = DispatchTime.now().uptimeNanoseconds
        full = Planner.plan(desired: desired, observed: Observed(nodes: nodes), now: now)
        fullTimes.append(seconds(since: start))
    }
    var containers: [ObservedContainer] = []
    for case .start(let start) in full.actions {
        containers.append(
            ObservedContainer(
                id: start.name, node: start.node, app: start.app, slot: start.slot, specHash: start.specHash,
                resources: start.resources, readySince: now.addingTimeInterval(-60),
                startedAt: now.addingTimeInterval(-60)))
    }
    let converged = Observed(nodes: nodes, containers: containers)
    var noopTimes: [Double] = []
    var noop = Planner.plan(desired: desired, observed: converged, now: now)
    for _ in 0..<options.runs {
        let start = DispatchTime.now().uptimeNanoseconds
        noop = Planner.plan(desired: desired, observed: converged, now: now)
        noopTimes.append(seconds(since: start))
    }
    let requestedCPU = apps.reduce(Int64(0)) { $0 + $1.resources.cpu.millicores * Int64($1.replicas) }
    let requestedMemory = apps.reduce(Int64(0)) { $0 + $1.resources.memory.bytes * Int64($1.replicas) }
    let perNode = nodes[0].capacity
    let lowerBound = max(
        Int((requestedCPU + perNode.cpu.millicores - 1) / perNode.cpu.millicores),
        Int((requestedMemory + perNode.memory.bytes - 1) / perNode.memory.bytes))
    let used = Set(containers.map(\.node)).count
    let unplaced = full.changes.reduce(0) { $0 + $1.unplaceable.count }
    func ms(_ value: Double) -> String { String(format: "%.2f ms", value * 1000) }
    print(
        "planner: \(appCount) apps, \(containers.count) replicas placed (\(unplaced) unplaceable), \(nodeCount) nodes")
    print("full plan (nothing running): median \(ms(median(fullTimes))) over \(fullTimes.count)")
    print(
        "no-op plan (in sync):        median \(ms(median(noopTimes))) over \(noopTimes.count); actions: \(noop.actions.count)"
    )
    print("nodes used: \(used); lower bound (requests / node capacity): \(lowerBound)")
}
