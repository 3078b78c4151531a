import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileRuntime
import ReconcileSpawn
import ReconcileStore

/// DAG task handoff on a process node, through the controller's own loop (a `DAGRunner` pass, then
/// a wait for the next exit notice, as `reconcile controller` does while a run is active): a chain of `chain` trivial tasks gives the handoff latency, the time
/// from one task's exit (as its shim recorded it) to the next one's start; a DAG of `fanOut` tasks
/// (one root, the rest side by side, one sink) gives the total time. Baseline: starting one process
/// through the same driver (the floor of any handoff).
func runDAGBenchmark(_ options: Options) async throws {
    let chainLength = options.tasks == 20 ? 200 : options.tasks
    let fanOut = 1_000
    let shim = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("reconcile-shim").path
    guard FileManager.default.isExecutableFile(atPath: shim) else {
        throw BenchError("\(shim) missing: build every product (swift build -c release)")
    }
    let runs = min(options.runs, 3)
    var baselines: [Double] = []
    var handoffs: [Double] = []
    var fanOutTimes: [Double] = []
    var chainTimes: [Double] = []
    var spawnFloors: [Double] = []
    var driverFloors: [Double] = []
    for _ in 0..<runs {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dag-bench-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = NodeSpec(
            name: "bench", backend: .process,
            capacity: Resources(cpu: CPUQuantity(millicores: 1_000_000), memory: MemoryQuantity(bytes: 1 << 40)))
        let driver = try ProcessDriver(node: "bench", stateDirectory: folder, shimPath: shim)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [node], drivers: ["bench": driver], store: store, stateDirectory: folder)
        let tiny = Resources(cpu: CPUQuantity(millicores: 1), memory: MemoryQuantity(bytes: 1 << 20))

        // Baseline: one process start (run -> running), 20 times.
        for index in 0..<20 {
            let start = DispatchTime.now().uptimeNanoseconds
            let info = try await driver.run(ContainerSpec(name: "baseline-\(index)", command: ["/bin/true"]))
            baselines.append(seconds(since: start))
            try await driver.remove(info.id)
        }

        let chain = DAGSpec(
            name: "chain",
            tasks: (0..<chainLength).map { index in
                TaskSpec(
                    name: String(format: "t%04d", index), command: ["/bin/true"],
                    after: index == 0 ? [] : [String(format: "t%04d", index - 1)], resources: tiny)
            })
        let chainTime = try await runToCompletion(chain, runner: runner, store: store, node: node)
        chainTimes.append(chainTime)
        let attempts = Dictionary(
            try store.attempts(dag: "chain", runID: "bench").map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
        for index in 1..<chainLength {
            guard let upstream = attempts[String(format: "t%04d", index - 1)]?.finishedAt,
                let downstream = attempts[String(format: "t%04d", index)]?.startedAt
            else { throw BenchError("task \(index) of the chain did not run") }
            handoffs.append(downstream.timeIntervalSince(upstream))
        }

        let middle = (1...(fanOut - 2)).map { String(format: "m%04d", $0) }
        let wide = DAGSpec(
            name: "wide", maxActiveRuns: 1,
            tasks: [TaskSpec(name: "root", command: ["/bin/true"], resources: tiny)]
                + middle.map { TaskSpec(name: $0, command: ["/bin/true"], after: ["root"], resources: tiny) }
                + [TaskSpec(name: "sink", command: ["/bin/true"], after: middle, resources: tiny)])
        fanOutTimes.append(try await runToCompletion(wide, runner: runner, store: store, node: node))

        // The floors of the fan-out, same concurrency (all at once): the same processes spawned
        // directly (posix_spawn through the spawn helper, then waitpid), and started through the
        // driver (a shim each, as a task's) and waited for until every one has exited.
        var start = DispatchTime.now().uptimeNanoseconds
        let pids = try (0..<fanOut).map { _ in
            try Spawn.start(Spawn.Request(argv: ["/bin/true"], environment: Spawn.environment()))
        }
        for pid in pids { _ = Spawn.reap(pid) }
        spawnFloors.append(seconds(since: start))
        start = DispatchTime.now().uptimeNanoseconds
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<fanOut {
                group.addTask {
                    try await driver.run(ContainerSpec(name: "floor-\(index)", command: ["/bin/true"])).id
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        while try await driver.list().contains(where: { $0.status == .running }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        driverFloors.append(seconds(since: start))
        for id in ids { try await driver.remove(id) }
    }
    let sorted = handoffs.sorted()
    let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
    let baseline = median(baselines)
    print("DAG handoff on a process node, \(runs) runs (\(handoffs.count) handoffs)")
    print(String(format: "  baseline: one process start through the driver  median %.1f ms", baseline * 1000))
    print(
        String(
            format:
                "  chain of %d tasks: handoff median %.1f ms (%.1fx baseline), p99 %.1f ms; whole chain median %.2f s",
            chainLength, median(handoffs) * 1000, median(handoffs) / baseline, p99 * 1000, median(chainTimes)))
    print(
        String(
            format: "  %d-task fan-out (root, %d side by side, sink): median %.2f s", fanOut, fanOut - 2,
            median(fanOutTimes)))
    print(
        String(
            format:
                "    floors, same run: %d processes spawned directly and waited for %.2f s (fan-out %.1fx); started through the driver (a shim each) until all exited %.2f s (fan-out %.1fx)",
            fanOut, median(spawnFloors), median(fanOutTimes) / median(spawnFloors), median(driverFloors),
            median(fanOutTimes) / median(driverFloors)))
    print(String(format: "  peak RSS %.0f MiB", peakResidentMiB()))
    if options.docker { try await runDockerChain(length: 50, processHandoff: median(handoffs)) }
}

/// The chain's handoff on a Docker node (the local engine, exits pushed by its event stream), set
/// against the process node's figure from the same run; baseline: one container start through the
/// driver, with the tasks' own limits and outputs file. Also the start with a 10m CPU limit: the
/// engine's `runc init` runs inside the container's quota, so a tiny limit slows the start itself.
/// Needs the test image `reconcile-test/busybox:1` (scripts/setup builds it).
private func runDockerChain(length: Int, processHandoff: Double) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dag-docker-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let endpoint = "unix:///var/run/docker.sock"
    let node = NodeSpec(
        name: "docker", backend: .docker(endpoint: endpoint, tls: nil),
        capacity: Resources(cpu: CPUQuantity(millicores: 1_000_000), memory: MemoryQuantity(bytes: 1 << 40)))
    let driver = try DockerDriver(node: "docker", endpoint: endpoint, timeout: .seconds(30))
    let image = "reconcile-test/busybox:1"
    let limits = Resources(cpu: CPUQuantity(millicores: 250), memory: MemoryQuantity(bytes: 64 << 20))
    func starts(_ resources: Resources, count: Int) async throws -> [Double] {
        var times: [Double] = []
        for index in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            let info = try await driver.run(
                ContainerSpec(
                    name: "bench-start-\(index)-\(getpid())", image: image, command: ["true"], resources: resources,
                    collectsOutputs: true))
            times.append(seconds(since: start))
            try? await driver.remove(info.id)
        }
        return times
    }
    let baselines = try await starts(limits, count: 10)
    let tinyStarts = try await starts(
        Resources(cpu: CPUQuantity(millicores: 10), memory: MemoryQuantity(bytes: 64 << 20)), count: 5)
    let store = try Store(stateDirectory: folder)
    let runner = DAGRunner(nodes: [node], drivers: ["docker": driver], store: store, stateDirectory: folder)
    let chain = DAGSpec(
        name: "dchain",
        tasks: (0..<length).map { index in
            TaskSpec(
                name: String(format: "t%04d", index), image: image, command: ["true"],
                after: index == 0 ? [] : [String(format: "t%04d", index - 1)], resources: limits)
        })
    let total = try await runToCompletion(chain, runner: runner, store: store, node: node)
    let attempts = Dictionary(
        try store.attempts(dag: "dchain", runID: "bench").map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
    var handoffs: [Double] = []
    for index in 1..<length {
        guard let upstream = attempts[String(format: "t%04d", index - 1)]?.finishedAt,
            let downstream = attempts[String(format: "t%04d", index)]?.startedAt
        else { throw BenchError("task \(index) of the Docker chain did not run") }
        handoffs.append(downstream.timeIntervalSince(upstream))
    }
    print("DAG handoff on a Docker node (the local engine), a chain of \(length) tasks (cpu 250m, memory 64Mi)")
    print(
        String(
            format:
                "  baseline: one container start through the driver, same limits  median %.1f ms (with cpu 10m: %.1f ms)",
            median(baselines) * 1000, median(tinyStarts) * 1000))
    print(
        String(
            format:
                "  handoff median %.1f ms (%.1fx the container start; %.1fx the process node's %.1f ms in this run); whole chain %.1f s",
            median(handoffs) * 1000, median(handoffs) / median(baselines), median(handoffs) / processHandoff,
            processHandoff * 1000, total))
}

/// Triggers one run of the DAG and passes as the controller does until it finishes; its duration.
private func runToCompletion(_ dag: DAGSpec, runner: DAGRunner, store: Store, node: NodeSpec) async throws -> Double {
    let now = Date()
    try store.addRun(
        RunRecord(
            dag: dag.name, runID: "bench", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
            commitID: "bench", createdAt: now))
    let desired = DesiredState(nodes: [node], dags: [dag])
    let start = DispatchTime.now().uptimeNanoseconds
    while true {
        let mark = runner.changeMark()
        let outcome = try await runner.run(desired: desired, revision: "bench", now: Date())
        guard outcome.active else { break }
        await runner.waitForChange(
            after: mark, until: min(outcome.requeueAt ?? .distantFuture, Date().addingTimeInterval(1)))
    }
    guard try store.runs(dag: dag.name).first?.state == .succeeded else {
        let failed = try store.attempts(dag: dag.name, runID: "bench").filter { $0.state != .succeeded }.prefix(3)
        throw BenchError(
            "the \(dag.name) run did not succeed: "
                + failed.map { "\($0.task) \($0.state) \($0.error.map { "\($0)" } ?? "")" }.joined(separator: "; "))
    }
    return seconds(since: start)
}
