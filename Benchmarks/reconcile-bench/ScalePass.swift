import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileTesting

/// Pass time (observe every node + plan) against the number of Apps and of nodes, on in-memory
/// nodes whose every call takes `latency` (a local engine's round trip): the no-op pass (everything
/// runs as desired), the planner alone on the same observation, and a pass in which 10 Apps changed.
/// With `summaryListing`, each node lists summaries and every replica is inspected, as on Docker.
func measurePassCurve(appCounts: [Int], nodeCounts: [Int], latency: Duration, repeats: Int) throws -> [Curve] {
    var memory = Curve(
        id: "memory-apps", title: "Reconciler memory vs Apps", xLabel: "Apps", yLabel: "peak RSS, MiB", series: [],
        note:
            "Peak resident memory of a process holding the desired state, the in-memory nodes' containers "
            + "(the fake engines live in the same process) and \(repeats * 2 + 1) passes; each point in a process of its own."
    )
    var curve = Curve(
        id: "pass", title: "Reconcile pass time vs Apps", xLabel: "Apps", yLabel: "ms per pass",
        series: [],
        note:
            "In-memory nodes answering each call after \(latency) (a local Docker engine's round trip); "
            + "Apps of 1–4 replicas (2.5 on average). Median of \(repeats) passes. Dry passes: observe + plan, "
            + "nothing applied.")
    for nodes in nodeCounts {
        for apps in appCounts {
            for summaryListing in nodes == nodeCounts[nodeCounts.count / 2] ? [false, true] : [false] {
                let figures = try passPoint(
                    apps: apps, nodes: nodes, latency: latency, repeats: repeats, summaryListing: summaryListing)
                let suffix = summaryListing ? ", \(nodes) Docker-like nodes (inspect each)" : ", \(nodes) nodes"
                curve.add("no-op pass" + suffix, x: Double(apps), y: figures.noop * 1000)
                curve.add("no-op pass without memory" + suffix, x: Double(apps), y: figures.noopFresh * 1000)
                if !summaryListing {
                    curve.add("planner alone" + suffix, x: Double(apps), y: figures.planner * 1000)
                    curve.add("10 Apps changed" + suffix, x: Double(apps), y: figures.changed * 1000)
                    curve.add("one replica exited" + suffix, x: Double(apps), y: figures.exited * 1000)
                    memory.add("peak RSS" + suffix, x: Double(apps), y: figures.peakMiB)
                }
                print(
                    String(
                        format:
                            "  pass: %6d apps %4d nodes%@: no-op %.1f ms (without memory %.1f ms), planner %.1f ms, "
                            + "10 changed %.1f ms, one exited %.1f ms (%d replicas, peak RSS %.0f MiB)",
                        apps, nodes, summaryListing ? " (inspect each)" : "", figures.noop * 1000,
                        figures.noopFresh * 1000, figures.planner * 1000, figures.changed * 1000,
                        figures.exited * 1000, figures.replicas, figures.peakMiB))
                fflush(nil)
            }
        }
    }
    // Keep the chart readable: the series beside the no-op pass at the middle node count only.
    let middle = "\(nodeCounts[nodeCounts.count / 2]) nodes"
    curve.series.removeAll {
        ($0.name.hasPrefix("planner") || $0.name.hasPrefix("10 Apps") || $0.name.hasPrefix("one replica")
            || $0.name.hasPrefix("no-op pass without")) && !$0.name.hasSuffix(middle)
    }
    return [curve, memory]
}

struct PassFigures: Codable {
    /// A pass that kept the last one's memory (`ObservationMemory`), as the controller's does.
    var noop: Double
    /// A pass of its own each time: every node read and every App planned.
    var noopFresh: Double
    var planner: Double
    var changed: Double
    /// One replica stopped on one node before each pass.
    var exited: Double
    var replicas: Int
    var peakMiB: Double
}

/// One point of the pass curve, measured in a child process (`reconcile-bench scale-pass-point`) so
/// its peak memory is its own.
private func passPoint(
    apps: Int, nodes: Int, latency: Duration, repeats: Int, summaryListing: Bool
) throws
    -> PassFigures
{
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments =
        [
            "scale-pass-point", "--apps", String(apps), "--nodes", String(nodes), "--runs", String(repeats),
            "--latency-ms", String(latency.components.attoseconds / 1_000_000_000_000_000),
        ] + (summaryListing ? ["--inspect-each"] : [])
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    guard child.terminationStatus == 0, let figures = try? JSONDecoder().decode(PassFigures.self, from: output) else {
        throw BenchError(
            "the pass point \(apps) apps x \(nodes) nodes failed: \(String(decoding: output, as: UTF8.self))")
    }
    return figures
}

/// `reconcile-bench scale-pass-point`: one point, printed as JSON.
func runPassPoint(_ options: Options) async throws {
    var figures = try await passFigures(
        apps: options.apps, nodes: options.nodes, latency: .milliseconds(options.latencyMilliseconds),
        repeats: options.runs, summaryListing: options.inspectEach)
    figures.peakMiB = peakResidentMiB()
    print(String(decoding: try JSONEncoder().encode(figures), as: UTF8.self))
}

private func passFigures(
    apps appCount: Int, nodes nodeCount: Int, latency: Duration, repeats: Int, summaryListing: Bool
)
    async throws -> PassFigures
{
    let apps = (0..<appCount).map { index in
        AppSpec(
            name: "app-\(index)", image: "registry.example/app-\(index % 50):1", replicas: 1 + index % 4,
            resources: Resources(
                cpu: CPUQuantity(millicores: Int64(250 * (1 + index % 8))),
                memory: MemoryQuantity(bytes: Int64(128 << 20) * Int64(1 + (index * 7) % 16))))
    }
    let cpu = apps.reduce(Int64(0)) { $0 + $1.resources.cpu.millicores * Int64($1.replicas) }
    let memory = apps.reduce(Int64(0)) { $0 + $1.resources.memory.bytes * Int64($1.replicas) }
    // A third of headroom over the requests, spread evenly.
    let capacity = Resources(
        cpu: CPUQuantity(millicores: cpu * 4 / 3 / Int64(nodeCount) + 8000),
        memory: MemoryQuantity(bytes: memory * 4 / 3 / Int64(nodeCount) + (16 << 30)))
    let images = Set(apps.compactMap(\.image))
    let nodes = (0..<nodeCount).map {
        NodeSpec(
            name: "node-\($0)", backend: .docker(endpoint: "unix:///in-memory/\($0)", tls: nil), capacity: capacity)
    }
    var drivers: [String: InMemoryDriver] = [:]
    for node in nodes {
        drivers[node.name] = InMemoryDriver(
            node: node.name, capacity: capacity, images: images, listsFullState: !summaryListing)
    }
    let desired = DesiredState(nodes: nodes, apps: apps)
    let pass = Pass(nodes: nodes, drivers: drivers)
    let started = await pass.run(desired: desired, revision: "r1", dryRun: false, now: Date())
    guard started.failures.isEmpty else { throw BenchError("populating failed: \(started.failures.prefix(3))") }
    let replicas = apps.reduce(0) { $0 + $1.replicas }
    let placed = started.plan.actions.count
    guard placed == replicas else { throw BenchError("populating placed \(placed) of \(replicas) replicas") }
    for driver in drivers.values { await driver.setLatency(latency) }

    var noop: [Double] = []
    var noopFresh: [Double] = []
    var planner: [Double] = []
    var observed = started.observed
    // The first pass after the start reads every node and plans (its memory is then warm).
    _ = await pass.run(desired: desired, revision: "r1", dryRun: true, now: Date())
    for _ in 0..<repeats {
        var start = DispatchTime.now().uptimeNanoseconds
        let result = await pass.run(desired: desired, revision: "r1", dryRun: true, now: Date())
        noop.append(seconds(since: start))
        guard result.plan.actions.isEmpty else {
            throw BenchError("the no-op pass planned \(result.plan.actions.count) actions")
        }
        start = DispatchTime.now().uptimeNanoseconds
        let fresh = await Pass(nodes: nodes, drivers: drivers).run(
            desired: desired, revision: "r1", dryRun: true, now: Date())
        noopFresh.append(seconds(since: start))
        guard fresh.plan == result.plan, fresh.observed == result.observed else {
            throw BenchError("a pass without memory answered otherwise than one with")
        }
        observed = result.observed
        let planStart = DispatchTime.now().uptimeNanoseconds
        _ = Planner.plan(desired: desired, observed: observed, now: Date())
        planner.append(seconds(since: planStart))
    }
    guard pass.memory.plansReused >= repeats else {
        throw BenchError("the no-op passes reused \(pass.memory.plansReused) settled plans of \(repeats)")
    }
    var changedApps = apps
    for index in stride(from: 0, to: min(10, appCount), by: 1) {
        changedApps[index * (appCount / 10)].env["RELEASE"] = "2"
    }
    let changedDesired = DesiredState(nodes: nodes, apps: changedApps)
    var changed: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = await pass.run(desired: changedDesired, revision: "r2", dryRun: true, now: Date())
        changed.append(seconds(since: start))
        guard !result.plan.actions.isEmpty else {
            throw BenchError("10 changed Apps planned nothing: \(result.plan.changes.prefix(3))")
        }
    }
    // One replica exits on one node before each pass: that node is read again, and every App planned.
    var exited: [Double] = []
    for round in 0..<repeats {
        // The next node in turn that runs something (packing may leave nodes empty).
        var stopped = false
        for offset in 0..<nodes.count where !stopped {
            let driver = drivers[nodes[(round + offset) % nodes.count].name]!
            if let victim = try await driver.list().first(where: { $0.status == .running }) {
                try await driver.stop(victim.id, grace: .zero)
                stopped = true
            }
        }
        guard stopped else { throw BenchError("no node runs anything") }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = await pass.run(desired: desired, revision: "r1", dryRun: true, now: Date())
        exited.append(seconds(since: start))
        guard !result.plan.actions.isEmpty else { throw BenchError("an exited replica planned nothing") }
    }
    return PassFigures(
        noop: median(noop), noopFresh: median(noopFresh), planner: median(planner), changed: median(changed),
        exited: median(exited), replicas: observed.containers.count, peakMiB: 0)
}
