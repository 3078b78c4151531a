import Foundation
import ReconcileDrivers
import ReconcileStore
import ReconcileTesting
import Testing

/// DAGs under `reconcile controller`, committed to git, on a process node and on a real dockerd.
@Suite struct DAGEndToEndTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case process, docker
        var testDescription: String { rawValue }
    }

    /// A task that fails twice then succeeds is retried to success; a task that always fails leaves
    /// its downstream upstreamFailed and fails the run; after a commit that fixes it, `rerun RUN
    /// --failed` runs only the failed task and the one it blocked, and the run succeeds.
    @Test(.timeLimit(.minutes(4)), arguments: Backend.allCases)
    func retriesFailureAndRerunAfterAFix(on backend: Backend) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-dag-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        var engine: DockerEngine?
        defer { engine?.shutdown() }
        let node: String
        let image: String
        switch backend {
        case .process:
            node = "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 2, memory: 1Gi }\n"
            image = ""
        case .docker:
            let started = try await DockerEngine.start()
            engine = started
            node = "kind: Node\nname: here\ndocker: \(started.endpoint)\ncapacity: { cpu: 2, memory: 1Gi }\n"
            image = "\n    image: \(TestImage.name)"
        }
        func dag(broken: String) -> String {
            """
            kind: DAG
            name: pipeline
            defaults:
              resources: { cpu: 100m, memory: 32Mi }
            tasks:
              extract:\(image)
                command: ["/bin/sh", "-c", "echo extracted"]
              flaky:\(image)
                after: [extract]
                command: ["/bin/sh", "-c", "echo try $TRY_NUMBER; [ $TRY_NUMBER -ge 3 ]"]
                retries: 2
                retryDelay: 1s
              broken:\(image)
                after: [extract]
                command: ["/bin/sh", "-c", "\(broken)"]
              load:\(image)
                after: [flaky, broken]
                command: ["/bin/sh", "-c", "echo loaded"]

            """
        }
        try (node + "---\n" + dag(broken: "echo cannot parse >&2; exit 7")).write(
            to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "pipeline"], in: repository)

        let output = root.appendingPathComponent("controller.log").path
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "300ms",
            ], output: output, endsWorkloadsUnder: state)
        let store = try Store(stateDirectory: state)
        func eventually(_ seconds: TimeInterval, _ condition: () throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return try condition()
        }
        let trigger = try await CLITests.run([
            "dags", "trigger", "pipeline", "--repo", repository.path, "--state", state,
        ])
        #expect(trigger.status == 0, "\(trigger.stderr)")
        let log = { DAGCLITests.contents(output) }
        #expect(try await eventually(90) { try store.runs(dag: "pipeline").first?.state == .failed }, "\(log())")
        let run = try #require(try store.runs(dag: "pipeline").first)
        #expect(
            run.failure
                == "dag pipeline run \(run.runID) failed: task broken failed after 1 try (exit 7); "
                + "not run (upstream failed): load")
        func tries() throws -> [String] {
            try store.attempts(dag: "pipeline", runID: run.runID).map {
                "\($0.task) \($0.tryNumber) \($0.state.rawValue) \($0.exitCode ?? -99)\($0.cleared ? " cleared" : "")"
            }
        }
        #expect(
            try tries() == [
                "broken 1 failed 7", "extract 1 succeeded 0", "flaky 1 failed 1", "flaky 2 failed 1",
                "flaky 3 succeeded 0",
            ])
        let broken = try await CLITests.run(["logs", "pipeline/broken", "--state", state])
        #expect(broken.stdout == "cannot parse\n", "\(broken.stdout) \(broken.stderr)")

        try (node + "---\n" + dag(broken: "echo parsed")).write(
            to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "fix broken"], in: repository)
        #expect(try await eventually(30) { log().contains("commit ") && log().split(separator: "commit ").count >= 3 })
        let rerun = try await CLITests.run(["rerun", run.runID, "--failed", "--state", state])
        #expect(rerun.stdout.contains("broken will run again"), "\(rerun.stdout) \(rerun.stderr)")
        #expect(try await eventually(90) { try store.runs(dag: "pipeline").first?.state == .succeeded }, "\(log())")
        // Only the failed task and what it blocked ran again: extract and flaky kept their attempts.
        #expect(
            try tries() == [
                "broken 1 failed 7 cleared", "broken 2 succeeded 0", "extract 1 succeeded 0", "flaky 1 failed 1",
                "flaky 2 failed 1", "flaky 3 succeeded 0", "load 1 succeeded 0",
            ])
        let loaded = try await CLITests.run(["logs", "pipeline/load", "--state", state])
        #expect(loaded.stdout == "loaded\n")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        if backend == .process {
            let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
            let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
            #expect(try await driver.list().isEmpty)
        } else if let engine {
            let driver = try DockerDriver(node: "here", endpoint: engine.endpoint)
            #expect(try await driver.list().isEmpty)  // finished task containers are removed
            // The engine created each attempt's container once, under its deterministic name.
            let events = try Command.run([
                "docker", "-H", engine.endpoint, "events", "--since", "0", "--until",
                "\(Int(Date().timeIntervalSince1970) + 1)",
                "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}",
            ])
            let safeRun = run.runID.replacingOccurrences(of: ":", with: "_")
            #expect(
                events.stdout.split(separator: "\n").sorted()
                    == [
                        "broken-1", "broken-2", "extract-1", "flaky-1", "flaky-2", "flaky-3", "load-1",
                    ].map { "pipeline-\(safeRun)-\($0)" }, "\(events.stdout) \(events.stderr)")
        }
        await engine?.shutdownOffPool()
    }

    /// The bundled example's ETL, as committed in examples/datalab (its node, notifiers and DAG): on first
    /// start the latest due tick runs (catchup false); the extracts' files, handed over in the run's
    /// volume, are joined by enrich and counted by load.
    @Test(.timeLimit(.minutes(3))) func theDatalabPipelineRuns() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-lab-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let example = CLITests.packageRoot.appendingPathComponent("examples/datalab")
        for file in ["nodes.yaml", "notifiers.yaml", "marketing-etl.yaml"] {
            try FileManager.default.copyItem(
                at: example.appendingPathComponent(file), to: repository.appendingPathComponent(file))
        }
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "datalab"], in: repository)
        let output = root.appendingPathComponent("controller.log").path
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "5s",
                "--tick", "300ms",
            ], output: output, endsWorkloadsUnder: state)
        let store = try Store(stateDirectory: state)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try store.runs(dag: "marketing-etl").first?.state != .succeeded {
            try await Task.sleep(for: .milliseconds(200))
        }
        let run = try #require(try store.runs(dag: "marketing-etl").first)
        #expect(run.state == .succeeded, "\(DAGCLITests.contents(output))")
        #expect(run.runID.hasPrefix("scheduled__"))
        // The files went through the run's volume: enrich printed what it joined.
        let enriched = try await CLITests.run(["logs", "marketing-etl/enrich", "--state", state])
        let format = ISO8601DateFormatter()
        #expect(
            enriched.stdout
                == "accounts since \(format.string(from: run.dataIntervalStart))\n"
                + "leads for \(format.string(from: run.logicalDate))\n", "\(enriched.stderr)")
        // The run succeeded, so its volume is gone (removed by the step that finished it, or the next).
        var volumes: [String] = ["?"]
        for _ in 0..<50 where !volumes.isEmpty {
            volumes = ((try? FileManager.default.contentsOfDirectory(atPath: state + "/volumes")) ?? [])
                .filter { $0.hasPrefix("marketing-etl-run-") }
            if !volumes.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(volumes.isEmpty, "\(volumes)")
        let load = try await CLITests.run(["logs", "marketing-etl/load-warehouse", "--state", state])
        #expect(load.stdout == "2\nloaded\n", "\(load.stdout) \(load.stderr)")
        let show = try await CLITests.run(["runs", "show", run.runID, "--state", state])
        for task in ["extract-salesforce", "extract-marketo", "enrich", "load-warehouse"] {
            #expect(show.stdout.contains("  \(task)\n    try 1: succeeded exit 0 on local"), "\(show.stdout)")
        }
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }
}
extension DAGEndToEndTests {
    /// The data-interval bug as it was seen: a minutely DAG under a real controller started at an
    /// arbitrary second. Every scheduled run's task sees DATA_INTERVAL_START = the previous minute
    /// and DATA_INTERVAL_END = its own minute, for the first run after the start, the next one, and
    /// the first one after a SIGKILL and a restart (it used to be the pass time of the start).
    @Test(.timeLimit(.minutes(6))) func scheduledRunsCoverWholeMinutesAcrossARestart() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("intervals-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        let marks = root.appendingPathComponent("intervals.txt").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: DAG
            name: minutely
            schedule: "* * * * *"
            tasks:
              record:
                command: ["/bin/sh", "-c", "echo $RUN_ID $DATA_INTERVAL_START $DATA_INTERVAL_END >> \(marks)"]

            """
        try manifests.write(to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "minutely"], in: repository)
        let output = root.appendingPathComponent("controller.log").path
        func start() throws -> ChildProcess {
            try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval",
                    "30s", "--tick", "200ms",
                ], output: output, endsWorkloadsUnder: state)
        }
        func lines() -> [String] { DAGCLITests.contents(marks).split(separator: "\n").map(String.init) }
        // Started away from a minute's start, so the pass time is never a tick.
        while Calendar(identifier: .gregorian).component(.second, from: Date()) < 5 {
            try await Task.sleep(for: .milliseconds(200))
        }
        var controller = try start()
        #expect(await AlertsEndToEndTests.eventually(75) { lines().count >= 1 }, "\(DAGCLITests.contents(output))")
        #expect(await AlertsEndToEndTests.eventually(75) { lines().count >= 2 }, "\(DAGCLITests.contents(output))")
        controller.signal(SIGKILL)
        _ = await controller.wait(timeout: 10)
        controller = try start()
        #expect(await AlertsEndToEndTests.eventually(75) { lines().count >= 3 }, "\(DAGCLITests.contents(output))")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        func date(_ text: Substring) -> Date? { format.date(from: String(text)) ?? plain.date(from: String(text)) }
        for line in lines() {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let start = date(fields[1]), let end = date(fields[2]) else {
                Issue.record("unexpected line: \(line)")
                continue
            }
            #expect(fields[0].hasPrefix("scheduled__"), "\(line)")
            #expect(end.timeIntervalSince(start) == 60, "\(line)")
            #expect(start.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0, "\(line)")
        }
        // Three different minutes, each once.
        #expect(Set(lines().map { $0.split(separator: " ").first ?? "" }).count == lines().count)
    }
}
