import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

@Suite struct DAGRunnerTests {
    let node = NodeSpec(name: "memory", backend: .process)

    func setUp() throws -> (InMemoryDriver, Store, DAGRunner, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dags-\(UUID().uuidString)").path
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30)))
        let store = try Store(stateDirectory: folder)
        return (
            driver, store, DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: folder),
            folder
        )
    }

    func task(_ name: String, _ command: [String], after: [String] = [], retries: Int = 0) -> TaskSpec {
        TaskSpec(name: name, command: command, after: after, retries: retries, retryDelay: .zero)
    }

    func manualRun(_ dag: String, _ store: Store, at now: Date) throws -> RunRecord {
        let run = RunRecord(
            dag: dag, runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
            commitID: "c1", createdAt: now)
        try store.addRun(run)
        return run
    }

    /// Two extracts, then enrich, then load: each task starts once its upstream succeeded, once.
    @Test func aRunProceedsThroughItsDependenciesAndSucceeds() async throws {
        let (driver, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                task("extract-a", ["fake:print", "a for ${LOGICAL_DATE}"]), task("extract-b", ["fake:exit", "0"]),
                task("enrich", ["fake:exit", "0"], after: ["extract-a", "extract-b"]),
                task("load", ["fake:exit", "0"], after: ["enrich"]),
            ])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try manualRun("etl", store, at: now)
        var passes = 0
        var started: [String] = []
        while passes < 6, try store.runs(dag: "etl").first?.state == .running {
            let outcome = try await runner.run(
                desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
            // Active while the run goes on, not once it has finished.
            #expect(outcome.active == (try store.runs(dag: "etl").first?.state == .running))
            let events = outcome.events
            started += events.filter { $0.hasSuffix("started") }
            passes += 1
        }
        #expect(try store.runs(dag: "etl").first?.state == .succeeded)
        #expect(passes == 4)
        #expect(started.count == 4)
        let attempts = try store.attempts(dag: "etl", runID: "manual__1")
        #expect(attempts.map(\.task) == ["enrich", "extract-a", "extract-b", "load"])
        #expect(attempts.allSatisfy { $0.tryNumber == 1 && $0.state == .succeeded })
        // Finished containers are removed once their output is saved; ${LOGICAL_DATE} was expanded.
        #expect(try await driver.list().isEmpty)
        let extract = try #require(attempts.first { $0.task == "extract-a" }?.logPath)
        #expect(extract == folder + "/logs/dags/etl/manual__1/extract-a.1.log")
        #expect(try String(contentsOfFile: extract, encoding: .utf8) == "a for 2027-01-15T08:00:00Z\n")
        #expect(SegmentReader(String(extract.dropLast(4)))?.count == 1)
    }

    /// Tasks take the room App replicas leave: with an App holding most of the node, a task waits
    /// `queued` (reported once, nothing recorded) and starts when the room is free; while App replicas
    /// wait for room, tasks wait behind them.
    @Test func tasksWaitQueuedForRoomAndForApps() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dagq-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let small = NodeSpec(
            name: "memory", backend: .process,
            capacity: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 30)))
        let driver = InMemoryDriver(node: "memory", capacity: small.capacity!)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [small], drivers: ["memory": driver], store: store, stateDirectory: folder)
        let app = AppSpec(
            name: "web", command: ["fake:sleep"],
            resources: Resources(cpu: CPUQuantity(millicores: 800), memory: MemoryQuantity(bytes: 256 << 20)))
        let web = try await driver.run(
            ContainerSpec(
                name: "web-1", command: ["fake:sleep"],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"]))
        var heavy = task("heavy", ["fake:exit", "0"])
        heavy.resources = Resources(cpu: CPUQuantity(millicores: 500), memory: MemoryQuantity(bytes: 128 << 20))
        let dag = DAGSpec(name: "etl", tasks: [heavy])
        let desired = DesiredState(nodes: [small], apps: [app], dags: [dag])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try manualRun("etl", store, at: now)
        let first = try await runner.run(desired: desired, revision: "c1", now: now).events
        #expect(first == ["~ dag etl: run manual__1: task heavy queued: needs cpu 500m, largest free is 200m (memory)"])
        // The reason is stored with the run, for explain, the API and the UI.
        let stored = try store.waiting(dag: "etl", runID: "manual__1")["heavy"]?.reason
        guard case .room(let reason, let rejected) = stored else {
            Issue.record("expected a room reason, got \(String(describing: stored))")
            return
        }
        #expect(reason == "needs cpu 500m, largest free is 200m (memory)")
        #expect(rejected.map(\.description) == ["memory: needs cpu 500m, 200m free"])
        #expect(try await runner.run(desired: desired, revision: "c1", now: now).events.isEmpty)  // once
        #expect(try store.attempts(dag: "etl", runID: "manual__1").isEmpty)
        try await driver.remove(web.id)
        // An App replica that fits nowhere holds the nodes that could run it: the task waits behind it.
        var appPlan = NodeLedger(nodes: [
            NodeLedger.Node(name: "memory", capacity: small.capacity!, isProcessNode: true)
        ])
        appPlan.hold(.replica(of: app, spread: [:]), for: "web")
        let waiting = try await runner.run(
            desired: desired, revision: "c1", now: now,
            appPlan: Plan(actions: [], changes: [], unchanged: [], ledger: appPlan)
        ).events
        #expect(
            waiting == [
                "~ dag etl: run manual__1: task heavy queued: App replicas waiting for room are placed first (web)"
            ])
        let started = try await runner.run(desired: desired, revision: "c1", now: now).events
        #expect(started == ["~ dag etl: run manual__1: task heavy try 1 started"])
    }

    /// A run that has not started waits while maxActiveRuns runs are under way, oldest first.
    @Test func runsBeyondMaxActiveRunsWaitTheirTurn() async throws {
        let (_, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(name: "etl", maxActiveRuns: 1, tasks: [task("a", ["fake:exit", "0"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for (index, id) in ["backfill__1", "backfill__2"].enumerated() {
            let logical = now.addingTimeInterval(Double(index) * 3600)
            try store.addRun(
                RunRecord(
                    dag: "etl", runID: id, logicalDate: logical, dataIntervalStart: logical, dataIntervalEnd: logical,
                    commitID: "c1", createdAt: now))
        }
        let desired = DesiredState(nodes: [node], dags: [dag])
        let first = try await runner.run(desired: desired, revision: "c1", now: now).events
        #expect(
            first == [
                "~ dag etl: run backfill__1: task a try 1 started",
                "~ dag etl: run backfill__2 queued (maxActiveRuns 1 under way)",
            ])
        #expect(try store.attempts(dag: "etl", runID: "backfill__2").isEmpty)
        _ = try await runner.run(desired: desired, revision: "c1", now: now)  // backfill__1 finishes
        let third = try await runner.run(desired: desired, revision: "c1", now: now).events
        #expect(third == ["~ dag etl: run backfill__2: task a try 1 started"])
    }

    /// A manual run of `etl` whose task `a` was recorded and its container created, never started
    /// (the controller died between create and start); the container's id.
    func interruptedStart(
        _ driver: InMemoryDriver, _ store: Store, at now: Date, createdAt: Date? = nil
    ) async throws -> (run: RunRecord, container: String) {
        let run = try manualRun("etl", store, at: now)
        try store.saveAttempt(
            AttemptRecord(
                dag: "etl", runID: run.runID, task: "a", tryNumber: 1, node: "memory",
                containerName: "etl-manual__1-a-1", state: .recorded, startedAt: now))
        let container = await driver.addCreatedContainer(
            ContainerSpec(
                name: "etl-manual__1-a-1", command: ["fake:sleep"],
                labels: [DAGRunner.dagLabel: "etl", DAGRunner.runLabel: run.runID, DAGRunner.taskLabel: "a"]),
            createdAt: createdAt)
        return (run, container)
    }

    /// A container created and never started (its creator died between create and start) is
    /// replaced once clearly abandoned, under the same name and try; its command had never run.
    @Test func anAbandonedCreatedContainerIsReplaced() async throws {
        let (driver, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(name: "etl", tasks: [task("a", ["fake:sleep"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (run, stale) = try await interruptedStart(driver, store, at: now)
        let desired = DesiredState(nodes: [node], dags: [dag])
        _ = try await runner.run(desired: desired, revision: "c1", now: now)
        #expect(try await driver.inspect(stale)?.status == .created)  // maybe still being started
        _ = try await runner.run(desired: desired, revision: "c1", now: now.addingTimeInterval(6))
        let containers = try await driver.list()
        #expect(containers.count == 1)
        #expect(containers.first?.id != stale)
        #expect(containers.first?.status == .running)
        #expect(try store.attempts(dag: "etl", runID: run.runID).map(\.state) == [.running])
    }

    /// Controllers that restart more often than the abandonment time (each with a fresh memory) still
    /// replace a container left created: the time counts from its creation as the node recorded it.
    /// (The crash test once stalled for minutes here: every controller restarted the 5 s count.)
    @Test func anAbandonedContainerIsReplacedByAControllerThatJustStarted() async throws {
        let (driver, store, _, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(name: "etl", tasks: [task("a", ["fake:sleep"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (run, stale) = try await interruptedStart(driver, store, at: now, createdAt: now.addingTimeInterval(-60))
        // A runner that has never seen it (a controller just started) replaces it in its first pass.
        let fresh = DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: folder)
        _ = try await fresh.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
        let containers = try await driver.list()
        #expect(containers.map(\.id) != [stale])
        #expect(containers.first?.status == .running)
        #expect(try store.attempts(dag: "etl", runID: run.runID).map(\.state) == [.running])
    }

    /// A task that names a Docker network starts only on a node that has it, also on a wake between
    /// ticks (no snapshot: the runner reads the networks itself).
    @Test func aTaskNamingADockerNetworkRunsWhereItExists() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dags-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let capacity = Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30))
        let plain = InMemoryDriver(node: "a", capacity: capacity, images: ["etl:1"])
        let wired = InMemoryDriver(node: "b", capacity: capacity, images: ["etl:1"])
        await plain.setNetworks(["bridge", "host", "none"])
        await wired.setNetworks(["bridge", "host", "none", "warehouse"])
        let nodes = ["a", "b"].map { NodeSpec(name: $0, backend: .docker(endpoint: "unix:///\($0)", tls: nil)) }
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: nodes, drivers: ["a": plain, "b": wired], store: store, stateDirectory: folder)
        var load = TaskSpec(name: "load", image: "etl:1", command: ["fake:sleep"])
        load.network = .named("warehouse")
        let dag = DAGSpec(name: "etl", tasks: [load])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try manualRun("etl", store, at: now)
        _ = try await runner.run(desired: DesiredState(nodes: nodes, dags: [dag]), revision: "c1", now: now)
        #expect(try store.attempts(dag: "etl", runID: "manual__1").map(\.node) == ["b"])
        #expect(try await plain.list().isEmpty)
    }

    /// A finished attempt whose container a crashed pass did not remove: the next pass saves its
    /// output and removes it.
    @Test func leftoverContainersOfFinishedAttemptsAreRemoved() async throws {
        let (driver, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(name: "etl", tasks: [task("a", ["fake:print", "done"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let run = try manualRun("etl", store, at: now)
        _ = try await driver.run(
            ContainerSpec(
                name: "etl-manual__1-a-1", command: ["fake:print", "done"],
                labels: [
                    DAGRunner.dagLabel: "etl", DAGRunner.runLabel: run.runID, DAGRunner.taskLabel: "a",
                    DAGRunner.tryLabel: "1",
                ]))
        try store.saveAttempt(
            AttemptRecord(
                dag: "etl", runID: run.runID, task: "a", tryNumber: 1, node: "memory",
                containerName: "etl-manual__1-a-1", state: .succeeded, exitCode: 0, startedAt: now, finishedAt: now))
        _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
        #expect(try await driver.list().isEmpty)
        let saved = try #require(try store.attempts(dag: "etl", runID: run.runID).first?.logPath)
        #expect(try String(contentsOfFile: saved, encoding: .utf8) == "done\n")
    }

    @Test func retriesExhaustedFailTheRunAndNameTheRootCause() async throws {
        let (_, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                task("extract", ["fake:exit", "4"], retries: 2), task("load", ["fake:exit", "0"], after: ["extract"]),
            ])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try manualRun("etl", store, at: now)
        var events: [String] = []
        for _ in 0..<6 {
            events += try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
                .events
        }
        let run = try #require(try store.runs(dag: "etl").first)
        #expect(run.state == .failed)
        #expect(
            run.failure
                == "dag etl run manual__1 failed: task extract failed after 3 tries (exit 4); not run (upstream failed): load"
        )
        #expect(try store.attempts(dag: "etl", runID: "manual__1").map(\.tryNumber) == [1, 2, 3])
        #expect(events.filter { $0.hasPrefix("! dag etl run manual__1 failed") }.count == 1)
    }

    /// A task the kernel kills at its memory limit fails with that as its error (the limit named),
    /// is retried like any failure, and the run's failure says so beside the exit code.
    @Test func aTaskKilledAtItsMemoryLimitSaysSo() async throws {
        let (_, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var hungry = task("extract", ["fake:oom"], retries: 1)
        hungry.resources = Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 48 << 20))
        let dag = DAGSpec(name: "etl", tasks: [hungry, task("plain", ["fake:exit", "137"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try manualRun("etl", store, at: now)
        for _ in 0..<4 {
            _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
        }
        let run = try #require(try store.runs(dag: "etl").first)
        #expect(run.state == .failed)
        let attempts = try store.attempts(dag: "etl", runID: "manual__1")
        let extract = attempts.filter { $0.task == "extract" }
        #expect(extract.map(\.tryNumber) == [1, 2])
        #expect(
            extract.allSatisfy {
                $0.exitCode == 137 && $0.error == .outOfMemory(limit: MemoryQuantity(bytes: 48 << 20))
            })
        #expect(
            extract.first?.error?.description
                == "out of memory: killed for going over its memory limit of 48Mi; raise resources.memory or make it use less"
        )
        // Exit 137 without the kernel's OOM kill (a SIGKILL from elsewhere) is a plain exit code.
        #expect(attempts.first { $0.task == "plain" }.map { $0.exitCode == 137 && $0.error == nil } == true)
        #expect(
            run.failure?.contains("task extract failed after 2 tries (exit 137, out of memory at its 48Mi limit)")
                == true)
    }

    /// The same on a process node: the real shim puts the task in a cgroup with its memory limit and
    /// the kernel kills it there.
    @Test(.timeLimit(.minutes(2))) func aTaskOverItsMemoryLimitOnAProcessNodeIsOutOfMemory() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dagm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let local = NodeSpec(name: "here", backend: .process)
        let driver = try ProcessDriver(
            node: "here", stateDirectory: folder + "/process", shimPath: LogCollectorTests.shim)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [local], drivers: ["here": driver], store: store, stateDirectory: folder)
        let limit = MemoryQuantity(bytes: 32 << 20)
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                TaskSpec(
                    name: "hog", command: DriverConformance.Workloads.hostProcesses.exceedMemory,
                    resources: Resources(cpu: CPUQuantity(millicores: 100), memory: limit))
            ])
        _ = try manualRun("etl", store, at: Date())
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try store.runs(dag: "etl").first?.state == .running {
            _ = try await runner.run(desired: DesiredState(nodes: [local], dags: [dag]), revision: "c1", now: Date())
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let attempt = try #require(try store.attempts(dag: "etl", runID: "manual__1").first)
        #expect(attempt.state == .failed)
        #expect(attempt.exitCode != 0)
        #expect(attempt.error == .outOfMemory(limit: limit), "\(String(describing: attempt.error))")
    }

    /// Intent before action: an attempt recorded by a controller that died before starting it is
    /// started on the next pass; one whose container exists is adopted, not started again.
    @Test func recordedAttemptsAreStartedOrAdoptedNeverDoubled() async throws {
        let (driver, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(name: "etl", tasks: [task("a", ["fake:sleep"]), task("b", ["fake:sleep"])])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let run = try manualRun("etl", store, at: now)
        for name in ["a", "b"] {
            try store.saveAttempt(
                AttemptRecord(
                    dag: "etl", runID: run.runID, task: name, tryNumber: 1, node: "memory",
                    containerName: "etl-manual__1-\(name)-1", state: .recorded, startedAt: now))
        }
        // "b" had been started just before the crash.
        _ = try await driver.run(
            ContainerSpec(
                name: "etl-manual__1-b-1", command: ["fake:sleep"],
                labels: [DAGRunner.dagLabel: "etl", DAGRunner.runLabel: run.runID, DAGRunner.taskLabel: "b"]))
        _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now).events
        let containers = try await driver.list()
        #expect(containers.map(\.name).sorted() == ["etl-manual__1-a-1", "etl-manual__1-b-1"])
        #expect(try store.attempts(dag: "etl", runID: run.runID).allSatisfy { $0.state == .running })
        _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now).events
        #expect(try await driver.list().count == 2)
    }

    /// A scheduled DAG: the runner creates the due run (deterministic id) and records the cursor.
    @Test func dueTicksBecomeRuns() async throws {
        let (_, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let dag = DAGSpec(
            name: "hourly", schedule: try CronSchedule(parsing: "0 * * * *"), start: start.timeIntervalSince1970,
            tasks: [task("a", ["fake:exit", "0"])])
        let now = start.addingTimeInterval(90 * 60)
        let events = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
            .events
        let runs = try store.runs(dag: "hourly")
        #expect(runs.count == 1)
        #expect(runs.first?.runID == "scheduled__2027-01-15T09:00:00Z")
        #expect(events.first == "+ dag hourly: run scheduled__2027-01-15T09:00:00Z created")
        #expect(try store.dagCursor("hourly") == now)
        _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now).events
        #expect(try store.runs(dag: "hourly").count == 1)
    }

    /// A minutely DAG under a controller that passes every 2.3 s from 10:26:46.639 and is restarted
    /// (a new runner on the same store) after a 7-minute stop: every run recorded in the store covers
    /// exactly [previous tick, tick] (the run at 10:27 used to start at the pass time, 10:26:46.639).
    @Test func storedRunsCoverExactlyTheirTickIntervalsAcrossARestart() async throws {
        let (driver, store, firstRunner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dag = DAGSpec(
            name: "minutely", schedule: try CronSchedule(parsing: "* * * * *"), maxActiveRuns: 100,
            tasks: [task("a", ["fake:exit", "0"])])
        let desired = DesiredState(nodes: [node], dags: [dag])
        let started = Date(timeIntervalSince1970: 1_795_861_606.639)  // 2026-11-28T10:26:46.639Z
        var now = started
        while now < started.addingTimeInterval(200) {
            _ = try await firstRunner.run(desired: desired, revision: "c1", now: now)
            now += 2.3
        }
        // Restarted after a stop: a new runner (fresh memory) on the same store and driver.
        let restarted = DAGRunner(
            nodes: [node], drivers: [node.name: driver], store: store, stateDirectory: folder)
        now = started.addingTimeInterval(620)
        while now < started.addingTimeInterval(800) {
            _ = try await restarted.run(desired: desired, revision: "c1", now: now)
            now += 2.3
        }
        let runs = try store.runs(dag: "minutely").sorted { $0.logicalDate < $1.logicalDate }
        // 10:27-10:30 in the first life; 10:37 (catchup false: the latest missed tick) and
        // 10:38-10:40 in the second.
        #expect(
            runs.map(\.runID) == [
                "scheduled__2026-11-28T10:27:00Z", "scheduled__2026-11-28T10:28:00Z", "scheduled__2026-11-28T10:29:00Z",
                "scheduled__2026-11-28T10:30:00Z", "scheduled__2026-11-28T10:37:00Z", "scheduled__2026-11-28T10:38:00Z",
                "scheduled__2026-11-28T10:39:00Z",
                "scheduled__2026-11-28T10:40:00Z",
            ])
        for run in runs {
            #expect(run.dataIntervalEnd == run.logicalDate, "\(run.runID)")
            #expect(run.dataIntervalStart == run.logicalDate.addingTimeInterval(-60), "\(run.runID)")
        }
    }

    /// `catchup: N` with more ticks missed: the latest N run and the pass says how many will not
    /// (once, in the controller's log), with the backfill command to run them.
    @Test func missedTicksBeyondCatchupAreReported() async throws {
        let (_, store, runner, folder) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z
        let dag = DAGSpec(
            name: "hourly", schedule: try CronSchedule(parsing: "0 * * * *"), start: start.timeIntervalSince1970,
            catchup: .missed(limit: 2), maxActiveRuns: 5, tasks: [task("a", ["fake:exit", "0"])])
        let desired = DesiredState(nodes: [node], dags: [dag])
        let events = try await runner.run(
            desired: desired, revision: "c1", now: start.addingTimeInterval(5 * 3600 + 60)
        )
        .events
        #expect(
            try store.runs(dag: "hourly").map(\.runID).sorted() == [
                "scheduled__2027-01-15T12:00:00Z", "scheduled__2027-01-15T13:00:00Z",
            ])
        #expect(
            events.contains(
                "! dag hourly: 6 ticks were missed; catchup 2 runs the latest 2, 4 will not run "
                    + "(backfill them with `reconcile dags backfill`)"), "\(events)")
        let later = try await runner.run(desired: desired, revision: "c1", now: start.addingTimeInterval(5 * 3600 + 90))
        #expect(!later.events.contains { $0.hasPrefix("! ") }, "\(later.events)")
    }

    /// On a real dockerd: tasks run as containers, exit codes come back (a Docker listing has none),
    /// the failing task's downstream is upstreamFailed and the run's failure names the task.
    @Test(.timeLimit(.minutes(3))) func aRunOnDockerReportsExitCodes() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dagd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let docker = NodeSpec(name: "docker", backend: .docker(endpoint: engine.endpoint, tls: nil))
        let driver = try DockerDriver(node: "docker", endpoint: engine.endpoint, address: engine.publishAddress)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [docker], drivers: ["docker": driver], store: store, stateDirectory: folder)
        func step(_ name: String, _ script: String, after: [String] = []) -> TaskSpec {
            TaskSpec(
                name: name, image: TestImage.name, command: ["/bin/sh", "-c", script], after: after,
                resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)))
        }
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                step("extract", "echo $TASK try $TRY_NUMBER"), step("transform", "exit 5", after: ["extract"]),
                step("load", "echo loaded", after: ["transform"]),
            ])
        let now = Date()
        _ = try manualRun("etl", store, at: now)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try store.runs(dag: "etl").first?.state == .running {
            _ = try await runner.run(desired: DesiredState(nodes: [docker], dags: [dag]), revision: "c1", now: Date())
                .events
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let run = try #require(try store.runs(dag: "etl").first)
        #expect(run.state == .failed)
        #expect(
            run.failure
                == "dag etl run manual__1 failed: task transform failed after 1 try (exit 5); not run (upstream failed): load"
        )
        let attempts = try store.attempts(dag: "etl", runID: "manual__1")
        #expect(
            attempts.map { "\($0.task) \($0.state.rawValue) \($0.exitCode ?? -99)" } == [
                "extract succeeded 0", "transform failed 5",
            ])
        // The containers are gone from the engine; their output was saved first.
        #expect(try await driver.list().isEmpty)
        let log = try #require(attempts.first?.logPath)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "extract try 1\n")
        await engine.shutdownOffPool()
    }
}

/// One observation per tick: the app pass and the tick's first DAG step read one snapshot; only a
/// wake between ticks lists the node again.
@Suite struct ClusterSnapshotTests {
    @Test func theAppPassAndTheFirstDAGStepShareOneObservation() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("snap-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = NodeSpec(name: "memory", backend: .process)
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 30)))
        let store = try Store(stateDirectory: folder)
        let web = AppSpec(
            name: "web", command: ["fake:sleep"], replicas: 1,
            resources: Resources(cpu: CPUQuantity(millicores: 700), memory: MemoryQuantity(bytes: 64 << 20)))
        var job = TaskSpec(name: "job", command: ["fake:exit", "0"], retryDelay: .zero)
        job.resources = Resources(cpu: CPUQuantity(millicores: 500), memory: MemoryQuantity(bytes: 64 << 20))
        let dag = DAGSpec(name: "etl", tasks: [job])
        let desired = DesiredState(nodes: [node], apps: [web], dags: [dag])
        let now = Date()
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        let reconciler = Reconciler(pass: Pass(nodes: [node], drivers: ["memory": driver]), store: store)
        let runner = DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: folder)

        let snapshot = await ClusterSnapshot.take(nodes: [node], drivers: ["memory": driver], now: now)
        let result = try await reconciler.run(
            desired: desired, revision: "c1", dryRun: false, now: now, snapshot: snapshot)
        #expect(result.plan.starts.map(\.app) == ["web"])
        let outcome = try await runner.run(
            desired: desired, revision: "c1", now: now, appPlan: result.plan, snapshot: snapshot)
        #expect(await driver.listings == 1)
        #expect(await driver.infos == 1)
        // The snapshot was taken before web started; its start is booked on top, so the task does
        // not take the room web now holds.
        #expect(
            outcome.events == [
                "~ dag etl: run manual__1: task job queued: needs cpu 500m, largest free is 300m (memory)"
            ])
        // A wake between ticks lists the node (and sees web running).
        _ = try await runner.run(desired: desired, revision: "c1", now: now, appPlan: result.plan)
        #expect(await driver.listings == 2)
    }
}

/// An attempt recorded before a crash and started while its run is followed holds its room in the
/// same pass: a task of another run does not take it too.
@Suite struct AdoptedAttemptRoomTests {
    @Test func aRecordedAttemptStartedByFollowingIsBooked() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("adopt-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = NodeSpec(
            name: "memory", backend: .process,
            capacity: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 30)))
        let driver = InMemoryDriver(node: "memory", capacity: node.capacity!)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: folder)
        var heavy = TaskSpec(name: "heavy", command: ["fake:sleep"], retryDelay: .zero)
        heavy.resources = Resources(cpu: CPUQuantity(millicores: 600), memory: MemoryQuantity(bytes: 64 << 20))
        let dag = DAGSpec(name: "etl", maxActiveRuns: 2, tasks: [heavy])
        let now = Date()
        for id in ["manual__1", "manual__2"] {
            try store.addRun(
                RunRecord(
                    dag: "etl", runID: id, logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                    commitID: "c1", createdAt: now))
        }
        // manual__1's attempt was recorded, and the controller died before starting it.
        try store.saveAttempt(
            AttemptRecord(
                dag: "etl", runID: "manual__1", task: "heavy", tryNumber: 1, node: "memory",
                containerName: TaskPlanner.containerName(dag: "etl", runID: "manual__1", task: "heavy", tryNumber: 1),
                state: .recorded, startedAt: now))
        let outcome = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
        #expect(try await driver.list().count == 1, "\(outcome.events)")
        #expect(
            outcome.events.contains(
                "~ dag etl: run manual__2: task heavy queued: needs cpu 600m, largest free is 400m (memory)"),
            "\(outcome.events)")
    }
}

/// Task outputs through the runner: read as soon as a try is seen to have exited 0 (even by its own
/// start, for a task that quick), handed to its downstream; a broken outputs file fails the try.
@Suite struct DAGRunnerOutputTests {
    let node = NodeSpec(name: "memory", backend: .process)

    @Test func outputsReachTheDownstreamAndABrokenFileFailsTheTry() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("outs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30)))
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: folder)
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                TaskSpec(name: "count-rows", command: ["fake:outputs", "ROWS=5", "FILE=/data/x.csv"]),
                TaskSpec(
                    name: "report",
                    command: ["fake:print", "rows ${OUTPUT_COUNT_ROWS_ROWS} of ${OUTPUT_COUNT_ROWS_FILE}"],
                    after: ["count-rows"]),
                TaskSpec(name: "broken", command: ["fake:outputs", "not a pair"]),
            ])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        for _ in 0..<6 where try store.runs(dag: "etl").first?.state == .running {
            _ = try await runner.run(desired: DesiredState(nodes: [node], dags: [dag]), revision: "c1", now: now)
        }
        let attempts = Dictionary(
            try store.attempts(dag: "etl", runID: "manual__1").map { ($0.task, $0) }, uniquingKeysWith: { $1 })
        #expect(attempts["count-rows"]?.outputs == ["ROWS": "5", "FILE": "/data/x.csv"])
        let report = try #require(attempts["report"]?.logPath)
        #expect(try String(contentsOfFile: report, encoding: .utf8).contains("rows 5 of /data/x.csv"))
        #expect(attempts["broken"]?.state == .failed)
        #expect(attempts["broken"]?.error == .outputs("outputs line 1 is not KEY=VALUE: \"not a pair\""))
        #expect(try store.runs(dag: "etl").first?.state == .failed)
    }
}

/// On a Docker node the runner is woken by the engine's event stream, not by polling: once the
/// stream is up its change mark is pushed, and a task's exit ends the wait long before its limit.
@Suite struct DAGRunnerDockerWakeTests {
    @Test(.timeLimit(.minutes(3))) func aDockerTasksExitWakesTheRunner() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wake-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = NodeSpec(name: "d", backend: .docker(endpoint: engine.endpoint, tls: nil))
        let driver = try DockerDriver(node: "d", endpoint: engine.endpoint)
        let runner = DAGRunner(
            nodes: [node], drivers: ["d": driver], store: try Store(stateDirectory: folder), stateDirectory: folder)
        var mark = runner.changeMark()
        for _ in 0..<300 where !mark.pushed {
            try await Task.sleep(for: .milliseconds(100))
            mark = runner.changeMark()
        }
        #expect(mark.pushed, "the engine's event stream never came up")
        let container = try await driver.run(
            ContainerSpec(
                name: "wake-task", image: TestImage.name, command: ["/bin/sh", "-c", "sleep 1"],
                resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)),
                network: .none))
        // The wait's own limit is a minute away; an exit notice ends it (cut at 1 s by the runner
        // while runs are under way, so it is waited on again until the container has exited).
        var exited = false
        for _ in 0..<60 where !exited {
            await runner.waitForChange(after: mark, until: Date().addingTimeInterval(60))
            mark = runner.changeMark()
            exited = try await driver.inspect(container.id)?.status == .exited
        }
        #expect(exited)
        try await driver.remove(container.id)
        await engine.shutdownOffPool()
    }
}
