import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcileStore
import ReconcileWeb
import Testing

/// The DAG and run pages for operating pipelines: the trigger form's param fields, pause and unpause,
/// a run's params, outputs, marked tries, cancel and mark buttons, and a task waiting for its pool.
@Suite struct PipelinePagesTests {
    static let dag = DAGSpec(
        name: "load",
        tasks: [
            TaskSpec(name: "landed", sensor: SensorSpec(condition: .file(path: "/data/ready"))),
            TaskSpec(name: "count", command: ["/bin/true"], after: ["landed"], pool: "warehouse"),
            TaskSpec(name: "report", command: ["/bin/true"], after: ["count"]),
        ],
        params: [
            DAGParam(name: "account", type: .int, defaultValue: "7", description: "only this account"),
            DAGParam(name: "target", type: .enumeration(["staging", "prod"]), defaultValue: "prod"),
        ])

    func pages() throws -> (WebPages, Store, WebSnapshot, Chrome, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try Store(stateDirectory: directory)
        let snapshot = WebSnapshot(
            state: DesiredState(dags: [Self.dag]), commit: "abcdef0123456789", appliedAt: Date(), apps: [], nodes: [],
            replicas: [])
        return (
            try WebPages(queries: Queries(store: store, stateDirectory: directory)), store, snapshot,
            WebPages.chrome(csrf: "token-1", snapshot: snapshot), directory
        )
    }

    @Test func theDAGPageHasATriggerFormWithItsParamsAndPauseButtons() throws {
        let (pages, store, snapshot, chrome, directory) = try pages()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let page = try #require(
            try pages.dag("load", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: Date()))
        #expect(page.contains("<input name=\"param.account\" id=\"param-account\" value=\"7\" inputmode=\"numeric\">"))
        #expect(page.contains("only this account"))
        #expect(
            page.contains(
                "<select name=\"param.target\" id=\"param-target\"><option>staging</option><option selected>prod</option></select>"
            ), "\(page)")
        #expect(page.contains("id=\"pause\"") && !page.contains("id=\"unpause\""))
        #expect(page.contains("waits until file /data/ready exists"))
        #expect(page.contains("<td>warehouse</td>"))
        try store.setPaused("load", true, at: Date())
        let paused = try #require(
            try pages.dag("load", selected: nil, runs: 25, snapshot: snapshot, chrome: chrome, now: Date()))
        #expect(paused.contains("<b id=\"paused\">paused by hand</b>"))
        #expect(paused.contains("id=\"unpause\"") && !paused.contains("id=\"pause\""))
        // Paused by git: no unpause button (a commit must do it).
        var gitPaused = Self.dag
        gitPaused.paused = true
        try store.setPaused("load", false, at: Date())
        let byGit = try #require(
            try pages.dag(
                "load", selected: nil, runs: 25,
                snapshot: WebSnapshot(
                    state: DesiredState(dags: [gitPaused]), commit: "abc", appliedAt: Date(), apps: [], nodes: [],
                    replicas: []), chrome: chrome, now: Date()))
        #expect(byGit.contains("paused by git (paused: true)"))
        #expect(!byGit.contains("id=\"unpause\"") && !byGit.contains("id=\"pause\""))
    }

    @Test func theRunPageShowsParamsOutputsMarksAndCancel() throws {
        let (pages, store, snapshot, chrome, directory) = try pages()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        try store.addRun(
            RunRecord(
                dag: "load", runID: "manual__1", logicalDate: base, dataIntervalStart: base, dataIntervalEnd: base,
                commitID: "abc", createdAt: base, params: ["account": "42", "target": "staging"]))
        try store.saveAttempts([
            AttemptRecord(
                dag: "load", runID: "manual__1", task: "landed", tryNumber: 1, node: "", containerName: "s",
                state: .succeeded, exitCode: 0, startedAt: base, finishedAt: base),
            AttemptRecord(
                dag: "load", runID: "manual__1", task: "count", tryNumber: 1, node: "n", containerName: "c",
                state: .succeeded, exitCode: 0, startedAt: base, finishedAt: base, outputs: ["ROWS": "420"]),
        ])
        try store.setWaiting(
            dag: "load", runID: "manual__1", ["report": .pool("warehouse", inUse: 2, slots: 2)], at: base)
        let page = try #require(try pages.run("load", "manual__1", snapshot: snapshot, chrome: chrome, now: base))
        #expect(page.contains("params: <code>account=42 target=staging</code>"))
        #expect(page.contains("<pre class=\"outputs\">ROWS=420</pre>"))
        #expect(page.contains("(sensor)"))
        #expect(page.contains("waiting for pool warehouse (2/2 in use)"))
        #expect(page.contains("id=\"cancel\""))
        #expect(page.contains("id=\"mark-success-report\"") && page.contains("id=\"mark-failed-count\""))
        _ = try store.requestCancel(dag: "load", runID: "manual__1", at: base)
        let asked = try #require(try pages.run("load", "manual__1", snapshot: snapshot, chrome: chrome, now: base))
        #expect(!asked.contains("id=\"cancel\"") && asked.contains("Cancel asked at"))
        try store.finishRun(dag: "load", runID: "manual__1", state: .cancelled, at: base, failure: nil)
        let cancelled = try #require(try pages.run("load", "manual__1", snapshot: snapshot, chrome: chrome, now: base))
        #expect(!cancelled.contains("id=\"mark-success-"), "a cancelled run takes no marks")
        // The task that never started shows cancelled; the ones that finished keep their state.
        #expect(cancelled.contains("data-task=\"report\">cancelled</span>"), "\(cancelled)")
        #expect(cancelled.contains("data-task=\"count\">succeeded</span>"))
    }
}
