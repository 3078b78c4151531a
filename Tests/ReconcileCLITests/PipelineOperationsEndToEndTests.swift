import Foundation
import ReconcileDrivers
import ReconcileStore
import ReconcileTesting
import Testing

/// Operating pipelines under `reconcile controller` on a process node: params, task outputs, marks,
/// cancels, sensors, pools, DAGs that run after others, pause and retention, through the CLI.
@Suite struct PipelineOperationsEndToEndTests {
    /// A repository with `documents`, committed, and a controller following it.
    struct Setup {
        let root: URL
        let repository: URL
        let state: String
        let output: String
        let store: Store

        init(_ documents: String, name: String) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-ops-\(name)-\(UUID().uuidString)")
            repository = root.appendingPathComponent("repo")
            state = root.appendingPathComponent("state").path
            output = root.appendingPathComponent("controller.log").path
            try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
            try documents.replacingOccurrences(of: "$ROOT", with: root.path).write(
                to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
            try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
            try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
            try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "pipelines"], in: repository)
            store = try Store(stateDirectory: state)
        }

        func controller(_ extra: [String] = []) throws -> ChildProcess {
            try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval",
                    "1s", "--tick", "300ms", "--listen", "127.0.0.1:0",
                ] + extra, output: output, endsWorkloadsUnder: state)
        }

        func cli(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let result = try await CLITests.run(arguments + ["--state", state])
            return (result.status, result.stdout, result.stderr)
        }

        var log: String { DAGCLITests.contents(output) }

        func eventually(_ seconds: TimeInterval, _ condition: () async throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try await condition() { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return try await condition()
        }

        func latest(_ dag: String) throws -> RunRecord? { try store.runs(dag: dag, limit: 1).first }

        /// The CLI options that go through the running controller's API (its generated token).
        func remote() async throws -> [String] {
            #expect(try await eventually(30) { log.contains("api: listening on http://127.0.0.1:") }, "\(log)")
            let port = try #require(
                log.split(separator: "\n").first { $0.contains("api: listening on") }?.split(separator: ":").last
                    .flatMap { Int($0) })
            return ["--controller", "http://127.0.0.1:\(port)", "--api-token", "file:\(state)/api-token"]
        }
    }

    static let node = "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 1, memory: 1Gi }\n"

    /// A manual run with params: the task sees them in its command and environment, writes an output
    /// its downstream reads; `runs show` lists the values and the output; a bad value is refused with
    /// the reason. A failed check marked succeeded by hand lets its downstream run. A restart with
    /// `--retain 1s` deletes the older finished runs with their output, keeping each DAG's newest.
    @Test(.timeLimit(.minutes(4))) func paramsOutputsMarksAndRetention() async throws {
        let setup = try Setup(
            Self.node + """
                ---
                kind: DAG
                name: load
                defaults:
                  resources: { cpu: 100m, memory: 32Mi }
                params:
                  account: {type: int, default: 7}
                  target: {type: enum, values: [staging, prod], default: prod}
                tasks:
                  count:
                    command: ["/bin/sh", "-c", "echo account ${PARAM_ACCOUNT} into $PARAM_TARGET; echo ROWS=$((PARAM_ACCOUNT * 10)) >> $RECONCILE_OUTPUTS"]
                  report:
                    after: [count]
                    command: ["/bin/sh", "-c", "echo rows ${OUTPUT_COUNT_ROWS} env $OUTPUT_COUNT_ROWS"]
                ---
                kind: DAG
                name: gate
                defaults:
                  resources: { cpu: 100m, memory: 32Mi }
                tasks:
                  check:
                    command: ["/bin/sh", "-c", "echo quality too low; exit 1"]
                  publish:
                    after: [check]
                    command: ["/bin/sh", "-c", "echo published"]

                """, name: "params")
        defer { try? FileManager.default.removeItem(at: setup.root) }
        let controller = try setup.controller()
        #expect(try await setup.eventually(30) { setup.log.contains("2 DAGs") }, "\(setup.log)")

        let refused = try await setup.cli(["dags", "trigger", "load", "--param", "target=dev"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("param target is one of staging, prod, not \"dev\""), "\(refused.stderr)")
        let unknown = try await setup.cli(["dags", "trigger", "load", "--param", "acount=1"])
        #expect(unknown.stderr.contains("dag load has no param \"acount\"; its params: account, target"))

        let first = try await setup.cli(["dags", "trigger", "load"])
        #expect(first.stdout.contains("triggered with account=7 target=prod"), "\(first.stdout) \(first.stderr)")
        #expect(try await setup.eventually(60) { try setup.latest("load")?.state == .succeeded }, "\(setup.log)")
        let firstRun = try #require(try setup.latest("load"))
        try await Task.sleep(for: .seconds(1.1))  // manual run ids are per second
        // Through the controller's API this time.
        let remote = try await setup.remote()
        let second = try await setup.cli(
            ["dags", "trigger", "load", "--param", "account=42", "--param", "target=staging"] + remote)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(
            try await setup.eventually(60) {
                let run = try setup.latest("load")
                return run?.runID != firstRun.runID && run?.state == .succeeded
            }, "\(setup.log)")
        let run = try #require(try setup.latest("load"))
        #expect(run.params == ["account": "42", "target": "staging"])
        let counted = try await setup.cli(["logs", "load/count"])
        #expect(counted.stdout == "account 42 into staging\n", "\(counted.stdout) \(counted.stderr)")
        let reported = try await setup.cli(["logs", "load/report"])
        #expect(reported.stdout == "rows 420 env 420\n", "\(reported.stdout) \(reported.stderr)")
        let show = try await setup.cli(["runs", "show", "load/\(run.runID)"])
        #expect(show.stdout.contains("  params: account=42 target=staging"), "\(show.stdout)")
        #expect(show.stdout.contains("      output ROWS=420"), "\(show.stdout)")
        let json = try await setup.cli(["runs", "show", "load/\(run.runID)", "--output", "json"])
        let detail = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((detail?["run"] as? [String: Any])?["params"] as? [String: String] == run.params)

        // Mark: the failed check is marked succeeded, so publish runs and the run succeeds.
        _ = try await setup.cli(["dags", "trigger", "gate"])
        #expect(try await setup.eventually(60) { try setup.latest("gate")?.state == .failed }, "\(setup.log)")
        let gate = try #require(try setup.latest("gate"))
        let wrongTask = try await setup.cli(["runs", "mark", "gate/\(gate.runID)", "--task", "chek", "success"])
        #expect(wrongTask.stderr.contains("dag gate has no task chek"), "\(wrongTask.stderr)")
        let mark = try await setup.cli(["runs", "mark", "gate/\(gate.runID)", "--task", "check", "success"] + remote)
        #expect(mark.stdout.contains("task check marked succeeded (try 2)"), "\(mark.stdout) \(mark.stderr)")
        #expect(try await setup.eventually(60) { try setup.latest("gate")?.state == .succeeded }, "\(setup.log)")
        let published = try await setup.cli(["logs", "gate/publish"])
        #expect(published.stdout == "published\n")
        let gateShow = try await setup.cli(["runs", "show", "gate/\(gate.runID)"])
        #expect(gateShow.stdout.contains("try 2: succeeded marked by hand"), "\(gateShow.stdout)")

        // Retention: the older load run goes with its saved output; each DAG's newest run stays.
        let oldLog = try #require(
            try setup.store.attempts(dag: "load", runID: firstRun.runID).first { $0.task == "count" }?.logPath)
        #expect(FileManager.default.fileExists(atPath: oldLog))
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        try await Task.sleep(for: .seconds(1.1))
        let restarted = try setup.controller(["--retain", "1s"])
        #expect(
            try await setup.eventually(30) { setup.log.contains("retention: 1 finished runs older than 1s deleted") },
            "\(setup.log)")
        #expect(try setup.store.runs(dag: "load").map(\.runID) == [run.runID])
        #expect(try setup.store.runs(dag: "gate").map(\.runID) == [gate.runID])
        #expect(try setup.store.attempts(dag: "load", runID: firstRun.runID).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: oldLog))
        restarted.signal(SIGTERM)
        #expect(await restarted.wait(timeout: 60) == 0)
    }

    /// A sensor waits for a file holding no room (a task that needs the whole node runs meanwhile) and
    /// succeeds when the file appears; a pool of 2 shared by two DAGs never has 3 tasks running (from the
    /// tasks' own start and end stamps); cancelling a run stops its long task's process tree.
    @Test(.timeLimit(.minutes(4))) func sensorsPoolsAndCancel() async throws {
        let stamps = "$ROOT/stamps"
        func pooled(_ name: String) -> String {
            """
              \(name):
                pool: warehouse
                command: ["/bin/sh", "-c", "date +%s%N > \(stamps)/$DAG-$TASK.start; sleep 1; date +%s%N > \(stamps)/$DAG-$TASK.end"]

            """
        }
        let setup = try Setup(
            Self.node + """
                ---
                kind: Pool
                name: warehouse
                slots: 2
                ---
                kind: DAG
                name: land
                tasks:
                  landed:
                    wait: {file: $ROOT/landed, interval: 1s, timeout: 2m}
                  ingest:
                    after: [landed]
                    resources: { cpu: 100m, memory: 32Mi }
                    command: ["/bin/sh", "-c", "echo ingested"]
                  hog:
                    resources: { cpu: 1, memory: 64Mi }
                    command: ["/bin/sh", "-c", "echo the whole node"]
                ---
                kind: DAG
                name: pool-a
                defaults:
                  resources: { cpu: 100m, memory: 32Mi }
                tasks:

                """ + ["a1", "a2", "a3"].map(pooled).joined() + """
                    ---
                    kind: DAG
                    name: pool-b
                    defaults:
                      resources: { cpu: 100m, memory: 32Mi }
                    tasks:

                    """ + ["b1", "b2", "b3"].map(pooled).joined() + """
                    ---
                    kind: DAG
                    name: long
                    tasks:
                      sleep:
                        resources: { cpu: 100m, memory: 32Mi }
                        command: ["/bin/sh", "-c", "sleep 347 & sleep 348; wait"]

                    """, name: "sensors")
        defer { try? FileManager.default.removeItem(at: setup.root) }
        try FileManager.default.createDirectory(
            atPath: setup.root.appendingPathComponent("stamps").path, withIntermediateDirectories: true)
        let controller = try setup.controller()
        #expect(try await setup.eventually(30) { setup.log.contains("4 DAGs") }, "\(setup.log)")

        // Sensor: the hog (cpu 1 of 1) runs and finishes while the sensor waits.
        _ = try await setup.cli(["dags", "trigger", "land"])
        func attempts(_ dag: String) throws -> [String: AttemptRecord] {
            guard let run = try setup.latest(dag) else { return [:] }
            return Dictionary(
                try setup.store.attempts(dag: dag, runID: run.runID).map { ($0.task, $0) },
                uniquingKeysWith: { $1 })
        }
        #expect(
            try await setup.eventually(60) { try attempts("land")["hog"]?.state == .succeeded }, "\(setup.log)")
        #expect(try attempts("land")["landed"]?.state == .running)
        #expect(try attempts("land")["landed"]?.node == "")
        #expect(try attempts("land")["ingest"] == nil)
        let explained = try await setup.cli([
            "explain", "task", "land/\(try #require(try setup.latest("land")).runID)/landed",
        ])
        #expect(explained.stdout.contains("(a sensor)"), "\(explained.stdout)")
        _ = FileManager.default.createFile(atPath: setup.root.appendingPathComponent("landed").path, contents: Data())
        #expect(try await setup.eventually(30) { try setup.latest("land")?.state == .succeeded }, "\(setup.log)")
        #expect(try await setup.cli(["logs", "land/ingest"]).stdout == "ingested\n")

        // Pool: six pooled tasks of two DAGs, at most two at once.
        _ = try await setup.cli(["dags", "trigger", "pool-a"])
        _ = try await setup.cli(["dags", "trigger", "pool-b"])
        #expect(
            try await setup.eventually(90) {
                try setup.latest("pool-a")?.state == .succeeded && setup.latest("pool-b")?.state == .succeeded
            }, "\(setup.log)")
        var intervals: [(start: Int64, end: Int64)] = []
        for name in ["pool-a-a1", "pool-a-a2", "pool-a-a3", "pool-b-b1", "pool-b-b2", "pool-b-b3"] {
            func read(_ suffix: String) throws -> Int64 {
                let text = try String(
                    contentsOfFile: setup.root.appendingPathComponent("stamps/\(name).\(suffix)").path,
                    encoding: .utf8)
                return try #require(Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
            intervals.append((try read("start"), try read("end")))
        }
        let mostAtOnce = intervals.map { probe in
            intervals.filter { $0.start <= probe.start && probe.start < $0.end }.count
        }.max()
        #expect(mostAtOnce == 2, "\(intervals)")
        #expect(setup.log.contains("waiting for pool warehouse (2/2 in use)"), "\(setup.log)")

        // Cancel: the long task and its child are stopped, the run ends cancelled.
        _ = try await setup.cli(["dags", "trigger", "long"])
        #expect(try await setup.eventually(30) { try attempts("long")["sleep"]?.state == .running })
        func sleepers() throws -> Int {
            let found = try Command.run(["pgrep", "-f", "sleep 34[78]$"])
            return found.stdout.split(separator: "\n").count
        }
        #expect(try await setup.eventually(60) { try sleepers() == 2 })
        let longRun = try #require(try setup.latest("long"))
        let cancelled = try await setup.cli(["runs", "cancel", "long/\(longRun.runID)"] + (try await setup.remote()))
        #expect(cancelled.stdout.contains("cancel asked"), "\(cancelled.stdout) \(cancelled.stderr)")
        #expect(try await setup.eventually(60) { try setup.latest("long")?.state == .cancelled }, "\(setup.log)")
        #expect(try attempts("long")["sleep"]?.state == .cancelled)
        #expect(try await setup.eventually(60) { try sleepers() == 0 }, "the process tree is gone")
        let again = try await setup.cli(["runs", "cancel", "long/\(longRun.runID)"])
        #expect(again.stderr.contains("has finished (cancelled)"), "\(again.stderr)")
        #expect(try setup.store.incidents().filter { $0.key == "dag/long" }.isEmpty, "a cancel opens no incident")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }

    /// A DAG after two others runs for an interval only once both have a succeeded run for it (their
    /// backfilled runs), carrying that interval. Pausing a minutely DAG stops its runs; unpausing runs
    /// the latest missed tick only (catchup false), not one per minute missed.
    @Test(.timeLimit(.minutes(5))) func afterDAGsAndPause() async throws {
        let setup = try Setup(
            Self.node + """
                ---
                kind: DAG
                name: orders
                schedule: "0 0 1 1 *"
                params:
                  batch: {type: int, default: 1}
                tasks:
                  t: {command: ["true"], resources: { cpu: 100m, memory: 32Mi }}
                ---
                kind: DAG
                name: payments
                schedule: "0 0 1 1 *"
                tasks:
                  t: {command: ["true"], resources: { cpu: 100m, memory: 32Mi }}
                ---
                kind: DAG
                name: revenue
                schedule: {after: [orders, payments]}
                params:
                  region: {type: string, default: eu}
                tasks:
                  sum:
                    resources: { cpu: 100m, memory: 32Mi }
                    command: ["/bin/sh", "-c", "echo $DATA_INTERVAL_START $DATA_INTERVAL_END ${PARAM_REGION}"]
                ---
                kind: DAG
                name: ticker
                schedule: "* * * * *"
                tasks:
                  t: {command: ["true"], resources: { cpu: 100m, memory: 32Mi }}

                """, name: "after")
        defer { try? FileManager.default.removeItem(at: setup.root) }
        // Paused before the controller ever schedules it.
        let paused = try await setup.cli(["dags", "pause", "ticker", "--repo", setup.repository.path])
        #expect(paused.stdout.contains("ticker: paused"), "\(paused.stdout) \(paused.stderr)")
        let controller = try setup.controller()
        #expect(try await setup.eventually(30) { setup.log.contains("4 DAGs") }, "\(setup.log)")
        let list = try await setup.cli(["dags", "list"])
        #expect(list.stdout.contains("paused (by hand)"), "\(list.stdout)")

        let range = ["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"]
        let refused = try await setup.cli(["dags", "backfill", "payments", "--param", "batch=5"] + range)
        #expect(refused.stderr.contains("dag payments has no param \"batch\"; it declares none"), "\(refused.stderr)")
        _ = try await setup.cli(["dags", "backfill", "orders", "--param", "batch=5"] + range)
        #expect(try setup.latest("orders")?.params == ["batch": "5"])
        #expect(try await setup.eventually(30) { try setup.latest("orders")?.state == .succeeded }, "\(setup.log)")
        try await Task.sleep(for: .seconds(2))
        #expect(try setup.latest("revenue") == nil, "payments has not run for that interval")
        let waits = try await setup.cli(["dags", "next", "revenue"])
        #expect(
            waits.stdout.contains("2025-01-01T00:00:00Z .. 2026-01-01T00:00:00Z: waits for payments"), "\(waits.stdout)"
        )
        _ = try await setup.cli(["dags", "backfill", "payments"] + range)
        #expect(try await setup.eventually(30) { try setup.latest("revenue")?.state == .succeeded }, "\(setup.log)")
        let revenue = try #require(try setup.latest("revenue"))
        #expect(revenue.runID == "after__2026-01-01T00:00:00Z")
        // A run nobody triggered uses the params' defaults.
        #expect(
            try await setup.cli(["logs", "revenue/sum"]).stdout == "2025-01-01T00:00:00Z 2026-01-01T00:00:00Z eu\n")

        // Paused across a minute boundary: no run; unpaused: the latest tick only, then on schedule.
        let boundary = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
        try await Task.sleep(for: .seconds(boundary - Date().timeIntervalSince1970 + 3))
        #expect(try setup.store.runs(dag: "ticker").isEmpty)
        let unpaused = try await setup.cli(["dags", "unpause", "ticker"] + (try await setup.remote()))
        #expect(unpaused.stdout.contains("unpaused"), "\(unpaused.stdout) \(unpaused.stderr)")
        #expect(try await setup.eventually(30) { try setup.store.runs(dag: "ticker").count == 1 }, "\(setup.log)")
        try await Task.sleep(for: .seconds(2))
        let ticks = try setup.store.runs(dag: "ticker")
        #expect(ticks.count == 1, "one run for the latest tick, no burst: \(ticks.map(\.runID))")
        #expect(ticks.first?.logicalDate == Date(timeIntervalSince1970: boundary))
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }
}

/// The parts of operating pipelines that touch containers, on a real Docker engine: a task's outputs
/// read back through the engine and consumed downstream, and a cancel stopping a running container.
@Suite struct PipelineOperationsDockerTests {
    @Test(.timeLimit(.minutes(4))) func outputsAndCancelOnDocker() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let setup = try PipelineOperationsEndToEndTests.Setup(
            """
            kind: Node
            name: here
            docker: \(engine.endpoint)
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: DAG
            name: etl
            defaults:
              image: \(TestImage.name)
              resources: { cpu: 100m, memory: 32Mi }
            tasks:
              count:
                command: ["/bin/sh", "-c", "echo ROWS=17 >> $RECONCILE_OUTPUTS"]
              report:
                after: [count]
                command: ["/bin/sh", "-c", "echo rows ${OUTPUT_COUNT_ROWS}"]
            ---
            kind: DAG
            name: long
            tasks:
              sleep:
                image: \(TestImage.name)
                resources: { cpu: 100m, memory: 32Mi }
                command: ["/bin/sleep", "300"]

            """, name: "docker")
        defer { try? FileManager.default.removeItem(at: setup.root) }
        let controller = try setup.controller()
        #expect(try await setup.eventually(60) { setup.log.contains("2 DAGs") }, "\(setup.log)")
        _ = try await setup.cli(["dags", "trigger", "etl"])
        #expect(try await setup.eventually(90) { try setup.latest("etl")?.state == .succeeded }, "\(setup.log)")
        #expect(try await setup.cli(["logs", "etl/report"]).stdout == "rows 17\n")
        let run = try #require(try setup.latest("etl"))
        #expect(
            try setup.store.attempts(dag: "etl", runID: run.runID).first { $0.task == "count" }?.outputs
                == ["ROWS": "17"])

        _ = try await setup.cli(["dags", "trigger", "long"])
        let driver = try DockerDriver(node: "here", endpoint: engine.endpoint)
        #expect(
            try await setup.eventually(60) {
                try await driver.list().contains { $0.labels[OwnershipLabels.dag] == "long" && $0.status == .running }
            }, "\(setup.log)")
        let long = try #require(try setup.latest("long"))
        _ = try await setup.cli(["runs", "cancel", "long/\(long.runID)"])
        #expect(try await setup.eventually(30) { try setup.latest("long")?.state == .cancelled }, "\(setup.log)")
        // Stopped and removed: nothing of the run is left on the engine.
        #expect(
            try await setup.eventually(60) {
                try await driver.list().allSatisfy { $0.labels[OwnershipLabels.dag] != "long" }
            })
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        await engine.shutdownOffPool()
    }
}
