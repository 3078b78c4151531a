import Foundation
import ReconcileController
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
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
        return (driver, store, DAGRunner(nodes: [node], drivers: ["memory": driver], store: store), folder)
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
        let containers = try await driver.list()
        #expect(Set(containers.map(\.name)) == Set(attempts.map(\.containerName)))
        // ${LOGICAL_DATE} was expanded in the command.
        let extract = try #require(containers.first { $0.name == "etl-manual__1-extract-a-1" })
        #expect(try await driver.logs(extract.id, since: nil).map(\.text) == ["a for 2027-01-15T08:00:00Z"])
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

    /// On a real dockerd: tasks run as containers, exit codes come back (a Docker listing has none),
    /// the failing task's downstream is upstreamFailed and the run's failure names the task.
    @Test(.timeLimit(.minutes(3))) func aRunOnDockerReportsExitCodes() async throws {
        let engine = try DockerEngine()
        defer { engine.shutdown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dagd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let docker = NodeSpec(name: "docker", backend: .docker(endpoint: engine.endpoint, tls: nil))
        let driver = try DockerDriver(node: "docker", endpoint: engine.endpoint, publishAddress: engine.publishAddress)
        let store = try Store(stateDirectory: folder)
        let runner = DAGRunner(nodes: [docker], drivers: ["docker": driver], store: store)
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
        let extract = try #require(try await driver.list().first { $0.name == "etl-manual__1-extract-1" })
        #expect(try await driver.logs(extract.id, since: nil).map(\.text) == ["extract try 1"])
    }
}
