import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcilePlanner
import ReconcileStore
import ReconcileWeb
import Testing

@Suite struct WebPagesTests {
    static let dag = DAGSpec(
        name: "etl",
        tasks: [
            TaskSpec(name: "extract", command: ["/bin/true"]),
            TaskSpec(name: "transform", command: ["/bin/sh", "-c", "echo '<b>x</b>'"], after: ["extract"], retries: 1),
            TaskSpec(name: "load", command: ["/bin/true"], after: ["transform"]),
        ])

    static func attempt(_ task: String, _ tryNumber: Int, _ state: String, cleared: Bool = false) -> AttemptView {
        AttemptView(
            task: task, tryNumber: tryNumber, state: state, exitCode: state == "failed" ? 1 : 0, node: "n",
            container: "c", cleared: cleared, startedAt: Date(timeIntervalSince1970: 100),
            finishedAt: state == "running" ? nil : Date(timeIntervalSince1970: 101))
    }

    /// The states the graph colours come from the planner: a failure with retries left is retrying,
    /// with none left failed and its downstream upstreamFailed; a cleared try no longer counts.
    @Test func taskStatesFollowThePlanner() {
        let now = Date(timeIntervalSince1970: 102)
        let retrying = TaskStates.of(
            dag: Self.dag, runState: "running",
            attempts: [Self.attempt("extract", 1, "succeeded"), Self.attempt("transform", 1, "failed")], now: now)
        #expect(retrying == ["extract": "succeeded", "transform": "retrying", "load": "waiting"])
        let failed = TaskStates.of(
            dag: Self.dag, runState: "failed",
            attempts: [
                Self.attempt("extract", 1, "succeeded"), Self.attempt("transform", 1, "failed"),
                Self.attempt("transform", 2, "failed"),
            ], now: now)
        #expect(failed == ["extract": "succeeded", "transform": "failed", "load": "upstreamFailed"])
        let rerun = TaskStates.of(
            dag: Self.dag, runState: "running",
            attempts: [
                Self.attempt("extract", 1, "succeeded"), Self.attempt("transform", 1, "failed", cleared: true),
                Self.attempt("transform", 2, "failed", cleared: true), Self.attempt("transform", 3, "running"),
            ], now: now)
        #expect(rerun == ["extract": "succeeded", "transform": "running", "load": "waiting"])
        let notStarted = TaskStates.of(dag: Self.dag, runState: "running", attempts: [], now: now)
        #expect(notStarted == ["extract": "queued", "transform": "waiting", "load": "waiting"])
    }

    /// Pages from a real store: the grid has a column per run and a cell per task, the graph the
    /// selected run's states; text from the store and git is HTML-escaped.
    @Test func dagAndRunPagesFromAStore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try Store(stateDirectory: directory)
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        for index in 0..<3 {
            let runID = "scheduled__\(index)"
            let failed = index == 2
            try store.addRun(
                RunRecord(
                    dag: "etl", runID: runID, logicalDate: base.addingTimeInterval(Double(index) * 3600),
                    dataIntervalStart: base, dataIntervalEnd: base, commitID: "abc",
                    state: failed ? .running : .succeeded,
                    createdAt: base))
            if failed {
                try store.finishRun(
                    dag: "etl", runID: runID, state: .failed, at: base,
                    failure: "task transform failed <script>x</script>")
            }
            var attempts = [
                AttemptRecord(
                    dag: "etl", runID: runID, task: "extract", tryNumber: 1, node: "n", containerName: "c1",
                    state: .succeeded, exitCode: 0, startedAt: base, finishedAt: base)
            ]
            for tryNumber in 1...(failed ? 2 : 1) {
                attempts.append(
                    AttemptRecord(
                        dag: "etl", runID: runID, task: "transform", tryNumber: tryNumber, node: "n",
                        containerName: "c2-\(tryNumber)", state: failed ? .failed : .succeeded,
                        exitCode: failed ? 3 : 0,
                        startedAt: base, finishedAt: base))
            }
            if !failed {
                attempts.append(
                    AttemptRecord(
                        dag: "etl", runID: runID, task: "load", tryNumber: 1, node: "n", containerName: "c3",
                        state: .succeeded, exitCode: 0, startedAt: base, finishedAt: base))
            }
            try store.saveAttempts(attempts)
        }
        var check = CheckState()
        check.record(passed: false, message: "<script>alert(3)</script>", at: base, failAfter: 1, passAfter: 1)
        try store.saveCheckState(check, name: "disk")
        let pages = try WebPages(queries: Queries(store: store, stateDirectory: directory))
        let snapshot = WebSnapshot(
            state: DesiredState(dags: [Self.dag]), commit: "abcdef0123456789", appliedAt: base, apps: [], nodes: [],
            replicas: [])
        let chrome = WebPages.chrome(csrf: "token-1", snapshot: snapshot)
        let now = base.addingTimeInterval(86400)
        let dagPage = try #require(
            try pages.dag("etl", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: now))
        #expect(dagPage.components(separatedBy: "class=\"run state-").count - 1 == 3)
        #expect(dagPage.components(separatedBy: "class=\"cell state-").count - 1 == 9)
        // The newest run (the failed one) is in the graph.
        #expect(dagPage.contains("id=\"task-transform\" data-task=\"transform\" data-state=\"failed\""))
        #expect(dagPage.contains("id=\"task-load\" data-task=\"load\" data-state=\"upstreamFailed\""))
        #expect(
            dagPage.contains("echo &#39;&lt;b&gt;x&lt;/b&gt;&#39;")
                || dagPage.contains("echo &#x27;&lt;b&gt;x&lt;/b&gt;&#x27;"))
        #expect(dagPage.contains("name=\"csrf\" value=\"token-1\""))
        let older = try #require(
            try pages.dag("etl", selected: "scheduled__0", runs: 25, snapshot: snapshot, chrome: chrome, now: now))
        #expect(older.contains("data-task=\"transform\" data-state=\"succeeded\""))
        let runPage = try #require(try pages.run("etl", "scheduled__2", snapshot: snapshot, chrome: chrome, now: now))
        #expect(runPage.contains("id=\"rerun-failed\""))
        #expect(runPage.contains("task transform failed &lt;script&gt;x&lt;/script&gt;"))
        #expect(!runPage.contains("<script>"))
        let okRun = try #require(try pages.run("etl", "scheduled__1", snapshot: snapshot, chrome: chrome, now: now))
        #expect(!okRun.contains("id=\"rerun-failed\""))
        #expect(try pages.run("etl", "nope", snapshot: snapshot, chrome: chrome, now: now) == nil)
        #expect(try pages.dag("nope", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: now) == nil)
        let overview = try pages.overview(snapshot: snapshot, chrome: chrome, now: now)
        #expect(overview.contains("&lt;script&gt;alert(3)&lt;/script&gt;"))
        #expect(!overview.contains("<script>"))
        #expect(overview.contains("abcdef012345"))  // the commit in force
    }

    /// A DAG with a deadline says so on its page, and shows the open deadline incident as late.
    @Test func theDAGPageShowsItsDeadlineAndALateRun() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try Store(stateDirectory: directory)
        var dag = Self.dag
        dag.schedule = try CronSchedule(parsing: "0 2 * * *")
        dag.deadline = .hours(6)
        let snapshot = WebSnapshot(
            state: DesiredState(dags: [dag]), commit: "abcdef0123456789", appliedAt: Date(), apps: [], nodes: [],
            replicas: [])
        let pages = try WebPages(queries: Queries(store: store, stateDirectory: directory))
        let chrome = WebPages.chrome(csrf: "token-1", snapshot: snapshot)
        let onTime = try #require(
            try pages.dag("etl", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: Date()))
        #expect(onTime.contains("deadline 6h after each logical date"))
        #expect(!onTime.contains("id=\"late\""))
        let summary = "dag etl: the run for 2026-03-10T02:00:00Z is running past its deadline 2026-03-10T08:00:00Z"
        let condition = Condition(key: "deadline/etl", failing: true, summary: summary, notifiers: [])
        try store.apply(open: [Incident(condition: condition, now: Date())], resolved: [], notices: [], now: Date())
        let late = try #require(
            try pages.dag("etl", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: Date()))
        #expect(late.contains("<p class=\"bad\" id=\"late\"><b>Late:</b> \(summary)</p>"), "\(late)")
    }

    /// The App page says why each replica is on its node; the run page says why a task waits and why
    /// an attempt failed without an exit code.
    @Test func pagesSayWhy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("why-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(stateDirectory: directory)
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let web = AppSpec(name: "web", command: ["sleep"], replicas: 1)
        let nodes = [
            ObservedNode(
                name: "a",
                capacity: Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 4 << 30)),
                isProcessNode: true),
            ObservedNode(
                name: "b",
                capacity: Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 4 << 30)),
                isProcessNode: false),
        ]
        let first = Planner.plan(desired: DesiredState(apps: [web]), observed: Observed(nodes: nodes), now: base)
        let start = try #require(first.starts.first)
        try store.recordPlacements([
            PlacementRecord(
                container: start.name, app: "web", slot: 0, placement: try #require(start.placement), at: base)
        ])
        let running = ObservedContainer(
            id: "id-1", node: start.node, app: "web", slot: 0, specHash: start.specHash, resources: web.resources,
            readySince: base)
        let observed = Observed(nodes: nodes, containers: [running])
        let plan = Planner.plan(desired: DesiredState(apps: [web]), observed: observed, now: base)
        let dag = DAGSpec(
            name: "etl",
            tasks: [TaskSpec(name: "a", command: ["x"]), TaskSpec(name: "b", command: ["x"], after: ["a"])])
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "r1", logicalDate: base, dataIntervalStart: base, dataIntervalEnd: base,
                commitID: "c", createdAt: base))
        try store.saveAttempts([
            AttemptRecord(
                dag: "etl", runID: "r1", task: "a", tryNumber: 1, node: "a", containerName: "c1", state: .failed,
                startedAt: base, finishedAt: base, error: .startFailed("No such image: x"))
        ])
        try store.setWaiting(dag: "etl", runID: "r1", ["b": .upstream(["a"])], at: base)
        let snapshot = WebSnapshot(
            state: DesiredState(apps: [web], dags: [dag]), commit: "c", appliedAt: base, apps: [], nodes: [],
            replicas: [], observed: observed, plan: plan)
        let pages = try WebPages(queries: Queries(store: store, stateDirectory: directory))
        let chrome = WebPages.chrome(csrf: "t", snapshot: snapshot)
        let appPage = try #require(try pages.app("web", snapshot: snapshot, chrome: chrome))
        #expect(appPage.contains("<h2>Why here</h2>"))
        #expect(appPage.contains("replica 0 on a: chosen with 98% cpu and 97% memory left"), "\(appPage)")
        #expect(appPage.contains("    not b: a Docker node runs images, and this names no image"))
        let runPage = try #require(try pages.run("etl", "r1", snapshot: snapshot, chrome: chrome, now: base))
        #expect(runPage.contains("<div class=\"muted why\">waiting on upstream a (since "))
        #expect(runPage.contains("<div class=\"notice error\">start failed: No such image: x</div>"))
    }

    /// The nodes page says why a node takes no work, offers Drain on a schedulable node and
    /// Uncordon only on one drained by hand (a node removed from git drains until it is empty).
    @Test func theNodesPageShowsDrainsWithTheirButtons() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nodes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(stateDirectory: directory)
        func view(_ name: String, _ draining: String?) -> NodeView {
            NodeView(
                name: name, reachable: true, cpuMillicores: 2000, memoryBytes: 1 << 30, usedCPUMillicores: 0,
                usedMemoryBytes: 0, schedulable: draining == nil, draining: draining)
        }
        let snapshot = WebSnapshot(
            state: DesiredState(), commit: "c", appliedAt: nil, apps: [],
            nodes: [
                view("a", nil), view("b", "drained (deadline 2027-01-01T00:00:00Z)"),
                view("c", "removed from git; forgotten once nothing of ours runs there"),
            ], replicas: [])
        let pages = try WebPages(queries: Queries(store: store, stateDirectory: directory))
        let page = pages.nodes(snapshot: snapshot, chrome: WebPages.chrome(csrf: "t", snapshot: snapshot))
        #expect(page.contains(#"action="/nodes/a/drain""#))
        #expect(!page.contains(#"action="/nodes/a/uncordon""#))
        #expect(page.contains("<b class=\"draining\">drained (deadline 2027-01-01T00:00:00Z)</b>"))
        #expect(page.contains(#"action="/nodes/b/uncordon""#))
        #expect(!page.contains(#"action="/nodes/c/uncordon""#) && !page.contains(#"action="/nodes/c/drain""#))
        #expect(page.contains("removed from git; forgotten once nothing of ours runs there"))
    }
}
