import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcileStore
import ReconcileWeb

/// API and web UI times against the stored history: 50 DAGs of 4 tasks with `attempts / 200` runs
/// each (10k attempts: 50 runs per DAG; 1M: 5,000), every run finished. The pages a person opens:
/// the runs list across DAGs and of one DAG, the DAG list, a DAG page with its grid of 25 runs,
/// a run page (by DAG/RUN and by a bare run id) and the overview. Baseline: one indexed row read
/// (`runs --limit 1` of one DAG) in the same store, the floor of any page.
func measureHistoryCurve(attemptCounts: [Int], repeats: Int) throws -> [Curve] {
    var memory = Curve(
        id: "memory-history", title: "Controller memory vs stored history", xLabel: "attempts stored",
        yLabel: "RSS, MiB", series: [],
        note: "The release controller on the same store (its 50 DAGs paused), resident memory 20 s after start.")
    var curve = Curve(
        id: "history", title: "API and UI time vs stored history", xLabel: "attempts stored", yLabel: "ms (median)",
        series: [],
        note:
            "50 DAGs × 4 tasks, every run finished; the store is SQLite (WAL) on this machine's disk. "
            + "Median of \(repeats) requests each, rendered in process (no HTTP).")
    for attempts in attemptCounts {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let filled = DispatchTime.now().uptimeNanoseconds
        let (dags, newest) = try fillHistory(directory: directory, attempts: attempts)
        let fillSeconds = seconds(since: filled)
        let store = try Store(stateDirectory: directory)
        let queries = Queries(store: store, stateDirectory: directory)
        let pages = try WebPages(queries: queries)
        let snapshot = WebSnapshot(
            state: DesiredState(dags: dags), commit: "c0ffee0123456789", appliedAt: newest, apps: [], nodes: [],
            replicas: [])
        let chrome = WebPages.chrome(csrf: String(repeating: "a", count: 64), snapshot: snapshot)
        // A run id only one DAG has (scheduled ids repeat across DAGs), for the lookup by bare id.
        let newestRun = "manual__benchmark"
        try store.addRun(
            RunRecord(
                dag: "dag-7", runID: newestRun, logicalDate: newest, dataIntervalStart: newest, dataIntervalEnd: newest,
                commitID: "c0ffee", state: .succeeded, createdAt: newest, finishedAt: newest))
        func time(_ label: String, baseline: Bool = false, _ body: () throws -> Int) throws {
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                let bytes = try body()
                guard bytes > 0 else { throw BenchError("\(label) gave nothing") }
                times.append(seconds(since: start) * 1000)
            }
            curve.add(label, x: Double(attempts), y: median(times), baseline: baseline)
            print(String(format: "  history %8d attempts: %-44@ %8.2f ms", attempts, label as NSString, median(times)))
        }
        try time("baseline: one run by index", baseline: true) { try store.runs(dag: "dag-7", limit: 1).count }
        try time("API runs list, all DAGs (50)") {
            try APICoding.encoder.encode(try queries.runs(dag: nil, limit: 50)).count
        }
        try time("API runs of one DAG (50)") {
            try APICoding.encoder.encode(try queries.runs(dag: "dag-7", limit: 50)).count
        }
        try time("API run by id (no DAG given)") { try APICoding.encoder.encode(try queries.run(newestRun)).count }
        try time("API DAG list") {
            try APICoding.encoder.encode(try queries.dags(DesiredState(dags: dags), now: newest)).count
        }
        try time("DAG page, grid of 25 runs") {
            try pages.dag("dag-7", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: newest)?.utf8
                .count ?? 0
        }
        try time("run page") {
            try pages.run("dag-7", newestRun, snapshot: snapshot, chrome: chrome, now: newest)?.utf8.count ?? 0
        }
        try time("overview") { try pages.overview(snapshot: snapshot, chrome: chrome, now: newest).utf8.count }
        let resident = try controllerResidentMiB(stateDirectory: directory, dags: dags.count)
        memory.add("controller RSS", x: Double(attempts), y: resident)
        print(String(format: "  history %8d attempts: controller RSS %.0f MiB after 20 s", attempts, resident))
        let size =
            (try? FileManager.default.attributesOfItem(atPath: directory + "/reconcile.sqlite")[.size] as? Int) ?? 0
        print(String(format: "    (store filled in %.1f s, %.0f MiB)", fillSeconds, Double(size) / 1048576))
        fflush(nil)
    }
    return [curve, memory]
}

/// The release controller (next to this binary) on a filled state directory, its 50 DAGs paused
/// (nothing runs): its resident memory 20 s after start, MiB.
func controllerResidentMiB(stateDirectory: String, dags: Int) throws -> Double {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let repository = stateDirectory + "-repo"
    try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: repository) }
    var text = "kind: Node\nname: local\nprocess: {}\ncapacity: { cpu: 4, memory: 8Gi }\n"
    for index in 0..<dags {
        text += """
            ---
            kind: DAG
            name: dag-\(index)
            schedule: "0 * * * *"
            paused: true
            tasks:
              extract: { command: ["/bin/true"] }
              transform: { command: ["/bin/true"], after: [extract] }
              enrich: { command: ["/bin/true"], after: [extract] }
              load: { command: ["/bin/true"], after: [transform, enrich] }

            """
    }
    try text.write(toFile: repository + "/all.yaml", atomically: true, encoding: .utf8)
    for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "history"]] {
        try git(arguments, in: repository)
    }
    let controller = Process()
    controller.executableURL = here.appendingPathComponent("reconcile")
    controller.arguments = [
        "controller", "--repo", repository, "--state", stateDirectory, "--listen", "127.0.0.1:0", "--retain", "never",
    ]
    controller.standardOutput = FileHandle.nullDevice
    controller.standardError = FileHandle.nullDevice
    try controller.run()
    defer {
        controller.terminate()
        controller.waitUntilExit()
    }
    Thread.sleep(forTimeInterval: 20)
    guard controller.isRunning,
        let status = try? String(contentsOfFile: "/proc/\(controller.processIdentifier)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
    else { throw BenchError("the controller on \(stateDirectory) did not keep running") }
    return kib / 1024
}

/// A store of 50 DAGs with `attempts` attempts in all, every run finished (one in 10 failed);
/// returns the DAGs and the newest run's time.
func fillHistory(directory: String, attempts: Int) throws -> (dags: [DAGSpec], newest: Date) {
    let store = try Store(stateDirectory: directory)
    let names = ["extract", "transform", "enrich", "load"]
    let runsPerDAG = max(1, attempts / 200)
    let base = Date(timeIntervalSince1970: 1_700_000_000)
    var dags: [DAGSpec] = []
    let stamps = ISO8601DateFormatter()
    for index in 0..<50 {
        let dag = "dag-\(index)"
        dags.append(try hourlyDAG(dag, tasks: names))
        var runs: [RunRecord] = []
        var tries: [AttemptRecord] = []
        for run in 0..<runsPerDAG {
            let logical = base.addingTimeInterval(Double(run) * 3600)
            let runID = "scheduled__" + stamps.string(from: logical)
            let failed = run % 10 == 7
            runs.append(
                RunRecord(
                    dag: dag, runID: runID, logicalDate: logical, dataIntervalStart: logical,
                    dataIntervalEnd: logical.addingTimeInterval(3600), commitID: "c0ffee",
                    state: failed ? .failed : .succeeded, createdAt: logical,
                    finishedAt: logical.addingTimeInterval(60), failure: failed ? "task load failed" : nil))
            for task in names {
                let bad = failed && task == names[3]
                tries.append(
                    AttemptRecord(
                        dag: dag, runID: runID, task: task, tryNumber: 1, node: "local",
                        containerName: "\(dag)-\(run)-\(task)", state: bad ? .failed : .succeeded,
                        exitCode: bad ? 1 : 0, startedAt: logical, finishedAt: logical.addingTimeInterval(5)))
            }
        }
        try store.schedule(runs, dag: dag, cursor: base.addingTimeInterval(Double(runsPerDAG) * 3600))
        try store.saveAttempts(tries)
    }
    return (dags, base.addingTimeInterval(Double(runsPerDAG) * 3600))
}
