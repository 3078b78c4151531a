import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcileStore
import ReconcileWeb

/// An hourly DAG of four `/bin/true` tasks: the first, the middle two after it, the last after both.
func hourlyDAG(_ name: String, tasks names: [String]) throws -> DAGSpec {
    DAGSpec(
        name: name, schedule: try CronSchedule(parsing: "0 * * * *"),
        tasks: [
            TaskSpec(name: names[0], command: ["/bin/true"]),
            TaskSpec(name: names[1], command: ["/bin/true"], after: [names[0]]),
            TaskSpec(name: names[2], command: ["/bin/true"], after: [names[0]]),
            TaskSpec(name: names[3], command: ["/bin/true"], after: [names[1], names[2]]),
        ])
}

/// Page render times of the web UI on a store of `--dags` (default 50) DAGs of 4 tasks with 100
/// runs each and a snapshot of `--apps` (default 200) Apps: the overview, a DAG page with its grid
/// of 100 runs, a run page, and the grid of every DAG in turn (50 x 100). The baseline is the same
/// data as the JSON API returns it (the runs and their attempts, read and encoded), in the same run.
func runWebBenchmark(_ options: Options) throws {
    let apps = options.apps == 2000 ? 200 : options.apps
    let dagCount = options.dags == 300 ? 50 : options.dags
    let runsPerDAG = 100
    let repeats = options.runs == 7 ? 9 : options.runs
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("web-bench-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try Store(stateDirectory: directory)
    let names = ["extract", "transform", "enrich", "load"]
    var dags: [DAGSpec] = []
    let base = Date(timeIntervalSince1970: 1_790_000_000)
    for index in 0..<dagCount {
        let dag = "dag-\(index)"
        dags.append(try hourlyDAG(dag, tasks: names))
        var attempts: [AttemptRecord] = []
        for run in 0..<runsPerDAG {
            let runID = "scheduled__\(run)"
            let logical = base.addingTimeInterval(Double(run) * 3600)
            let failed = run % 10 == 7
            try store.addRun(
                RunRecord(
                    dag: dag, runID: runID, logicalDate: logical, dataIntervalStart: logical,
                    dataIntervalEnd: logical.addingTimeInterval(3600), commitID: "c0ffee", state: .running,
                    createdAt: logical))
            try store.finishRun(
                dag: dag, runID: runID, state: failed ? .failed : .succeeded, at: logical.addingTimeInterval(60),
                failure: failed ? "task transform failed" : nil)
            for task in names where !(failed && task == names[3]) {
                let bad = failed && task == names[1]
                attempts.append(
                    AttemptRecord(
                        dag: dag, runID: runID, task: task, tryNumber: 1, node: "local",
                        containerName: "\(dag)-\(run)-\(task)",
                        state: bad ? .failed : .succeeded, exitCode: bad ? 1 : 0, startedAt: logical,
                        finishedAt: logical.addingTimeInterval(5)))
            }
        }
        try store.saveAttempts(attempts)
    }
    let appViews = (0..<apps).map {
        AppView(name: "app-\($0)", desired: 2, running: 2, ready: 2, revision: "0123456789ab", rollingOut: false)
    }
    let replicas = (0..<apps).flatMap { index in
        (0..<2).map {
            ReplicaView(
                app: "app-\(index)", node: "local", id: "p\(index)-\($0)", slot: $0, revision: "0123456789ab",
                ready: true, startedAt: base)
        }
    }
    let snapshot = WebSnapshot(
        state: DesiredState(dags: dags), commit: "c0ffee0123456789", appliedAt: base, apps: appViews,
        nodes: [
            NodeView(
                name: "local", reachable: true, cpuMillicores: 64000, memoryBytes: 256 << 30, usedCPUMillicores: 4000,
                usedMemoryBytes: 8 << 30)
        ], replicas: replicas)
    let queries = Queries(store: store, stateDirectory: directory)
    let pages = try WebPages(queries: queries)
    let chrome = WebPages.chrome(csrf: String(repeating: "a", count: 64), snapshot: snapshot)
    let now = base.addingTimeInterval(Double(runsPerDAG) * 3600)

    func measure(_ label: String, _ body: () throws -> Int) rethrows -> Double {
        var times: [Double] = []
        var bytes = 0
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            bytes = try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let value = median(times)
        print(
            "  " + label.padding(toLength: 52, withPad: " ", startingAt: 0)
                + String(format: "median %8.2f ms  (%d KiB)", value, bytes / 1024))
        return value
    }
    print("web UI: \(apps) Apps, \(dagCount) DAGs x \(runsPerDAG) runs x 4 tasks, median of \(repeats)")
    let json = try measure("baseline: one DAG's 100 runs + attempts as JSON") {
        var views: [RunDetailView] = []
        for run in try queries.runs(dag: "dag-0", limit: runsPerDAG) {
            views.append(RunDetailView(run: run, attempts: try queries.attempts(dag: "dag-0", runID: run.run)))
        }
        return try APICoding.encoder.encode(views).count
    }
    let dag = try measure("DAG page: graph + grid of 100 runs") {
        try pages.dag("dag-0", selected: nil, runs: runsPerDAG, snapshot: snapshot, chrome: chrome, now: now)?.utf8
            .count ?? 0
    }
    let overview = try measure("overview (\(apps) Apps, \(dagCount) DAGs)") {
        try pages.overview(snapshot: snapshot, chrome: chrome, now: now).utf8.count
    }
    _ = try measure("run page") {
        try pages.run("dag-0", "scheduled__97", snapshot: snapshot, chrome: chrome, now: now)?.utf8.count ?? 0
    }
    _ = measure("nodes page (\(apps * 2) replicas)") { pages.nodes(snapshot: snapshot, chrome: chrome).utf8.count }
    let all = try measure("every DAG's grid in turn (\(dagCount) x 100 runs)") {
        var total = 0
        for spec in dags {
            total +=
                try pages.dag(spec.name, selected: nil, runs: runsPerDAG, snapshot: snapshot, chrome: chrome, now: now)?
                .utf8.count ?? 0
        }
        return total
    }
    print(
        String(
            format: "  DAG page / JSON baseline: %.1fx; overview %.1f ms; all %d grids %.0f ms (%.1f ms per DAG)",
            dag / json, overview, dagCount, all, all / Double(dagCount)))
}
