import Foundation
import ReconcileDrivers
import ReconcileStore
import ReconcileTesting
import Testing

@Suite struct DAGCLITests {
    /// On a process node under `reconcile controller`: a triggered run whose middle task always fails
    /// (after its retry) fails with its downstream upstreamFailed; after a commit that fixes the task,
    /// `reconcile rerun RUN --failed` runs only the failed task and what was blocked below it.
    @Test(.timeLimit(.minutes(3))) func aFailedRunContinuesAfterAFixWithRerunFailed() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-dag-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        func dag(transform: String) -> String {
            """
            kind: DAG
            name: etl
            tasks:
              extract:
                command: ["/bin/sh", "-c", "echo extracted ${LOGICAL_DATE}"]
              transform:
                after: [extract]
                command: ["/bin/sh", "-c", "echo transforming $TRY_NUMBER; \(transform)"]
                retries: 1
                retryDelay: 1s
              load:
                after: [transform]
                command: ["/bin/sh", "-c", "echo loaded"]

            """
        }
        let node = "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 2, memory: 1Gi }\n"
        try node.write(to: repository.appendingPathComponent("node.yaml"), atomically: true, encoding: .utf8)
        try dag(transform: "echo broken >&2; exit 3").write(
            to: repository.appendingPathComponent("dag.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "broken transform"], in: repository)

        let output = root.appendingPathComponent("controller.log").path
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "300ms",
            ], output: output, endsWorkloadsUnder: state)
        func eventually(_ seconds: TimeInterval, _ condition: () async throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try await condition() { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return try await condition()
        }
        func runState() async throws -> String? {
            let listed = try await CLITests.run(["runs", "list", "etl", "--state", state, "--output", "json"])
            let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
            return rows?.first?["state"] as? String
        }

        // `dags trigger` reads the DAG from the repository the controller follows.
        #expect(try await eventually(30) { Self.contents(output).contains("1 DAGs") })
        let unknown = try await CLITests.run(["dags", "trigger", "nope", "--state", state])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no DAG nope at commit "), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("; DAGs: etl"))
        let trigger = try await CLITests.run(["dags", "trigger", "etl", "--state", state])
        #expect(trigger.status == 0, "\(trigger.stderr)")
        let runID = try #require(trigger.stdout.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        var runNow = try await runState()
        #expect(
            try await eventually(60) {
                runNow = try await runState()
                return runNow == "failed"
            }, "\(String(describing: runNow))")
        let failedShow = try await CLITests.run(["runs", "show", runID, "--state", state])
        #expect(
            failedShow.stdout.contains(
                "dag etl run \(runID) failed: task transform failed after 2 tries (exit 3); "
                    + "not run (upstream failed): load"), "\(failedShow.stdout)")

        try dag(transform: "echo transformed").write(
            to: repository.appendingPathComponent("dag.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "fix transform"], in: repository)
        // Wait until a pass ran at the fixing commit (a fixed sleep lost to a loaded machine).
        let fix = try Command.run(["git", "rev-parse", "HEAD"], in: repository).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try Store(stateDirectory: state)
        #expect(
            try await eventually(60) { try store.passes(limit: 1).first?.commitID == fix },
            "the controller did not apply \(fix)")
        let rerun = try await CLITests.run(["rerun", "etl/\(runID)", "--failed", "--state", state])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("transform will run again"))
        #expect(
            try await eventually(60) {
                runNow = try await runState()
                return runNow == "succeeded"
            }, "\(String(describing: runNow))")

        let show = try await CLITests.run(["runs", "show", runID, "--state", state]).stdout
        let lines = show.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        // extract ran once; transform's two failed tries are history and try 3 succeeded; load ran once.
        #expect(lines.filter { $0.hasPrefix("try ") }.count == 5, "\(show)")
        #expect(lines.contains { $0.hasPrefix("try 1: failed exit 3") && $0.hasSuffix("[cleared by rerun]") })
        #expect(lines.contains { $0.hasPrefix("try 3: succeeded exit 0") })
        #expect(show.contains("etl-\(runID.replacingOccurrences(of: ":", with: "_"))-load-1"))
        // The same run as JSON: the run and its five attempts.
        let showJSON = try await CLITests.run(["runs", "show", runID, "--state", state, "--output", "json"])
        let detail = try #require(
            try JSONSerialization.jsonObject(with: Data(showJSON.stdout.utf8)) as? [String: Any], "\(showJSON.stderr)")
        #expect((detail["run"] as? [String: Any])?["state"] as? String == "succeeded")
        #expect((detail["attempts"] as? [[String: Any]])?.count == 5)

        // Each attempt's output, saved when it finished.
        let extract = try await CLITests.run(["logs", "etl/extract", "--state", state])
        #expect(extract.stdout.hasPrefix("extracted 20"), "\(extract.stdout) \(extract.stderr)")
        let failed = try await CLITests.run(["logs", "etl/transform", "--run", runID, "--try", "2", "--state", state])
        // stdout and stderr are separate pipes: their relative order is not kept.
        #expect(failed.stdout.split(separator: "\n").sorted() == ["broken", "transforming 2"], "\(failed.stdout)")
        let latest = try await CLITests.run(["logs", "etl/transform", "--timestamps", "--state", state])
        #expect(latest.stdout.contains(" stdout transforming 3\n"), "\(latest.stdout)")
        #expect(latest.stdout.hasSuffix(" stdout transformed\n"), "\(latest.stdout)")
        // As JSON: one object per line, with its source, time, stream and text.
        let logJSON = try await CLITests.run(["logs", "etl/extract", "--state", state, "--output", "json"])
        let objects = try logJSON.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect((objects.first?["text"] as? String)?.hasPrefix("extracted 20") == true, "\(logJSON.stdout)")
        #expect(objects.allSatisfy { $0["time"] is String && $0["stream"] is String && $0["source"] is String })
        let noTry = try await CLITests.run(["logs", "etl/transform", "--try", "9", "--state", state])
        #expect(noTry.status == 1)
        #expect(noTry.stderr.contains("no attempt of etl/transform in try 9"), "\(noTry.stderr)")

        // A last run, triggered with JSON output: the new run's view.
        let triggeredJSON = try await CLITests.run(["dags", "trigger", "etl", "--state", state, "--output", "json"])
        let triggered = try #require(
            try JSONSerialization.jsonObject(with: Data(triggeredJSON.stdout.utf8)) as? [String: Any],
            "\(triggeredJSON.stderr)")
        #expect(triggered["dag"] as? String == "etl")
        #expect((triggered["run"] as? String)?.hasPrefix("manual__") == true, "\(triggeredJSON.stdout)")

        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        let missing = try await CLITests.run(["rerun", "nope", "--failed", "--state", state])
        #expect(missing.status != 0)
        #expect(
            missing.stderr.contains("no run nope in \(state); `reconcile runs list --state \(state)` shows the runs"))
        #expect(!missing.stderr.contains("Usage:"))
        let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
        for container in try await driver.list() { try await driver.remove(container.id) }
    }

    static func contents(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// A yearly DAG: `dags next` shows its coming ticks, `dags backfill` creates a run per past tick
    /// (skipping ticks that have one), the controller runs them one at a time (maxActiveRuns 1), oldest
    /// first, and `dags list` shows the last run.
    @Test(.timeLimit(.minutes(3))) func backfillRunsPastTicksInOrder() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-fill-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        let marks = root.appendingPathComponent("marks.txt").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: DAG
            name: yearly
            schedule: "0 0 1 1 *"
            maxActiveRuns: 1
            tasks:
              mark:
                command: ["/bin/sh", "-c", "echo start ${LOGICAL_DATE} >> \(marks); sleep 0.3; echo end ${LOGICAL_DATE} >> \(marks)"]

            """
        try manifests.write(to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "yearly"], in: repository)

        let next = try await CLITests.run([
            "dags", "next", "yearly", "--count", "2", "--repo", repository.path, "--state", state,
        ])
        let year = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).year!
        #expect(
            next.stdout
                == "\(year + 1)-01-01T00:00:00Z  data interval \(year)-01-01T00:00:00Z .. \(year + 1)-01-01T00:00:00Z\n"
                + "\(year + 2)-01-01T00:00:00Z  data interval \(year + 1)-01-01T00:00:00Z .. \(year + 2)-01-01T00:00:00Z\n",
            "\(next.stdout) \(next.stderr)")
        let nextJSON = try await CLITests.run([
            "dags", "next", "yearly", "--count", "2", "--repo", repository.path, "--state", state, "--output", "json",
        ])
        let upcoming = try #require(
            try JSONSerialization.jsonObject(with: Data(nextJSON.stdout.utf8)) as? [String: Any], "\(nextJSON.stderr)")
        #expect(
            (upcoming["runs"] as? [[String: String]])?.map { $0["logicalDate"] ?? "" } == [
                "\(year + 1)-01-01T00:00:00Z", "\(year + 2)-01-01T00:00:00Z",
            ])
        #expect(upcoming["scheduled"] as? Bool == true)
        let future = try await CLITests.run([
            "dags", "backfill", "yearly", "--from", "2023-01-01T00:00:00Z", "--to", "2999-01-01T00:00:00Z",
            "--repo", repository.path, "--state", state,
        ])
        #expect(future.status != 0)
        #expect(future.stderr.contains("--to is in the future"))
        let fill = try await CLITests.run([
            "dags", "backfill", "yearly", "--from", "2023-01-01T00:00:00Z", "--to", "2025-06-01T00:00:00Z",
            "--repo", repository.path, "--state", state,
        ])
        #expect(fill.status == 0, "\(fill.stderr)")
        #expect(fill.stdout.hasSuffix("yearly: 3 runs created, 0 ticks already had a run\n"), "\(fill.stdout)")
        let again = try await CLITests.run([
            "dags", "backfill", "yearly", "--from", "2024-01-01T00:00:00Z", "--to", "2025-01-01T00:00:00Z",
            "--repo", repository.path, "--state", state,
        ])
        #expect(again.stdout == "yearly: 0 runs created, 2 ticks already had a run\n", "\(again.stdout)")

        let output = root.appendingPathComponent("controller.log").path
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "300ms",
            ], output: output, endsWorkloadsUnder: state)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, Self.contents(marks).split(separator: "\n").count < 6 {
            try await Task.sleep(for: .milliseconds(200))
        }
        // The last run is recorded as finished (the marks come from the tasks themselves).
        let store = try Store(stateDirectory: state)
        while Date() < deadline, try store.runs(dag: "yearly").contains(where: { $0.state == .running }) {
            try await Task.sleep(for: .milliseconds(200))
        }
        // One run at a time, oldest first: each run's task ended before the next one's started.
        #expect(
            Self.contents(marks).split(separator: "\n") == [
                "start 2023-01-01T00:00:00Z", "end 2023-01-01T00:00:00Z", "start 2024-01-01T00:00:00Z",
                "end 2024-01-01T00:00:00Z", "start 2025-01-01T00:00:00Z", "end 2025-01-01T00:00:00Z",
            ], "\(Self.contents(marks))\n\(Self.contents(output))")
        // Without --repo, `dags list` reads the DAGs the controller follows.
        let list = try await CLITests.run(["dags", "list", "--state", state])
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.first == ["DAG", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "STATE", "ACTIVE"], "\(list.stdout)")
        #expect(
            rows.dropFirst().first == [
                "yearly", "0", "0", "1", "1", "*", "(UTC)", "\(year + 1)-01-01T00:00:00Z",
                "backfill__2025-01-01T00:00:00Z", "succeeded", "0",
            ], "\(list.stdout)")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }
}
