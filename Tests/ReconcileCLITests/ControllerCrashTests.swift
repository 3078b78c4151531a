import Foundation
import ReconcileDrivers
import ReconcileStore
import ReconcileTesting
import Testing

/// The controller is killed with SIGKILL at random moments while a DAG run is under way, and
/// started again each time. Every attempt must run exactly once (each task's command appends a line
/// when it starts; the store's attempts must match those lines), and the run must complete.
@Suite struct ControllerCrashTests {
    /// Runs alone among the heavy end-to-end tests (see HeavyTests).
    @Test(.timeLimit(.minutes(15))) func killedAtRandomMomentsTheRunCompletesWithEveryAttemptRunOnce() async throws {
        try await HeavyTests.exclusive { try await killedAtRandomMomentsTheRunCompletesWithEveryAttemptRunOnceAlone() }
    }

    func killedAtRandomMomentsTheRunCompletesWithEveryAttemptRunOnceAlone() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        let marks = root.appendingPathComponent("marks.txt").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        // The controllers come and go; the tasks they started end with the test, also a failed one.
        defer { ProcessWorkloads.endAll(under: state) }
        // Tasks long enough that several kills fall in each phase even when a loaded machine makes each
        // controller start and kill take over a second (3.5 s tasks allowed only 16 once on CI).
        func step(_ name: String, after: [String] = [], script: String = "sleep 6") -> String {
            """
              \(name):
                after: [\(after.joined(separator: ", "))]
                command: ["/bin/sh", "-c", "echo $TASK $TRY_NUMBER >> \(marks); \(script)"]
                retries: 1
                retryDelay: 0s

            """
        }
        let manifests =
            """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 4, memory: 4Gi }
            ---
            kind: DAG
            name: crashy
            tasks:

            """ + step("extract") + step("a1", after: ["extract"]) + step("a2", after: ["extract"])
            + step("a3", after: ["extract"])
            + step("flaky", after: ["a1"], script: "if [ $TRY_NUMBER = 1 ]; then exit 1; fi; sleep 6")
            + step("join", after: ["a2", "a3", "flaky"]) + step("load", after: ["join"])
            + step("report", after: ["load"], script: "sleep 10")
        try manifests.write(to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "crashy"], in: repository)
        let trigger = try await CLITests.run(["dags", "trigger", "crashy", "--repo", repository.path, "--state", state])
        #expect(trigger.status == 0, "\(trigger.stderr)")

        let output = root.appendingPathComponent("controller.log").path
        func start() throws -> ChildProcess {
            try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval",
                    "10s", "--tick", "200ms",
                ], output: output)
        }
        let store = try Store(stateDirectory: state)
        func runState() throws -> RunRecord.State? { try store.runs(dag: "crashy").first?.state }
        let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
        // Kills spread over the whole run: each controller lives a random 0.1-3 s (seeded; the seed
        // is printed, RECONCILE_CRASH_SEED replays its kill times) and the loop goes on until the run
        // is no longer running, so the retry, the fan-in and the last task run under kills too.
        let seed =
            ProcessInfo.processInfo.environment["RECONCILE_CRASH_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("controller crash test: seed \(seed) (replay with RECONCILE_CRASH_SEED=\(seed))")
        var generator = SeededGenerator(seed: seed)
        var killsDuringTheRun = 0
        var gracefulStops = 0
        // The tasks seen running at each kill: proof of where in the run the kills fell.
        var runningAtKills: Set<String> = []
        let runDeadline = Date().addingTimeInterval(600)
        while try runState() == .running, Date() < runDeadline {
            let controller = try start()
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...3_000, using: &generator)))
            guard try runState() == .running else {
                controller.signal(SIGTERM)
                _ = await controller.wait(timeout: 15)
                break
            }
            if killsDuringTheRun == 10, gracefulStops == 0 {
                // Once, a graceful stop instead: it exits 0 and leaves the running tasks running.
                // Sent once the controller runs (it holds the state lock, taken after its signal
                // handlers exist): a SIGTERM while the binary is still loading ends any program with
                // 143, which a soak run hit once with a 100 ms life.
                #expect(await AlertsEndToEndTests.eventually(60) { Self.holdsLock(state: state, pid: controller.pid) })
                let before = try await driver.list().filter { $0.status == .running }
                controller.signal(SIGTERM)
                // The controller bounds its graceful stop at 30 s (the pass in progress finishes).
                let stopped = await controller.wait(timeout: 45)
                let tail = DAGCLITests.contents(output).split(separator: "\n").suffix(15).joined(separator: "\n")
                #expect(stopped == 0, "graceful stop: exit \(String(describing: stopped)); log:\n\(tail)")
                for task in before {
                    let now = try #require(try await driver.inspect(task.id))
                    #expect(now.status == .running || now.exitCode == 0 || now.exitCode == 1, "\(now)")
                }
                gracefulStops += 1
                continue
            }
            controller.signal(SIGKILL)
            #expect(await controller.wait(timeout: 60) == 128 + SIGKILL)
            killsDuringTheRun += 1
            let runID = try store.runs(dag: "crashy").first?.runID ?? ""
            for attempt in try store.attempts(dag: "crashy", runID: runID) where attempt.state == .running {
                runningAtKills.insert("\(attempt.task) \(attempt.tryNumber)")
            }
        }
        print("controller crash test: \(killsDuringTheRun) kills; tasks running at kills: \(runningAtKills.sorted())")
        #expect(gracefulStops == 1, "seed \(seed)")
        // The count depends on how fast controllers start on the machine (12 to 29 seen); what matters
        // is where the kills fell: on the start, the retry, the fan-in and the last task.
        #expect(killsDuringTheRun >= 8, "the run ended after \(killsDuringTheRun) kills (seed \(seed))")
        for phase in ["extract 1", "flaky 2", "join 1", "report 1"] {
            #expect(runningAtKills.contains(phase), "no kill while \(phase) ran (seed \(seed))")
        }

        // Then one more controller finishes what is left (the removal of the last containers). A
        // second controller on the same state directory is refused (two would start every task twice).
        let controller = try start()
        // The lock is taken once the controller logs that it runs (waiting on the event, not a sleep).
        #expect(await AlertsEndToEndTests.eventually(30) { Self.holdsLock(state: state, pid: controller.pid) })
        let second = try await CLITests.run([
            "controller", "--repo", repository.path, "--state", state, "--interval", "10s",
        ])
        #expect(second.status == 1)
        #expect(
            second.stderr.contains(
                "another reconcile controller (pid \(controller.pid)) runs on the state directory \(state)"),
            "\(second.stderr)")
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, try runState() == .running { try await Task.sleep(for: .milliseconds(200)) }
        // The last finished containers are removed and their output saved.
        let cleaned = Date().addingTimeInterval(30)
        while Date() < cleaned, try await !driver.list().isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        let log = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(try runState() == .succeeded, "\(log.suffix(3000))")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)

        // Every attempt ran exactly once: one start line per (task, try), and those are the store's attempts.
        let started = ((try? String(contentsOfFile: marks, encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
        let runID = try #require(try store.runs(dag: "crashy").first?.runID)
        let attempts = try store.attempts(dag: "crashy", runID: runID)
        #expect(started.count == Set(started).count, "an attempt ran twice: \(started.sorted())")
        #expect(Set(started) == Set(attempts.map { "\($0.task) \($0.tryNumber)" }), "\(started.sorted())")
        let expected = ["extract", "a1", "a2", "a3", "flaky", "join", "load", "report"].map { "\($0) 1" } + ["flaky 2"]
        #expect(Set(started) == Set(expected))
        #expect(attempts.filter { $0.state == .succeeded }.count == 8)
        #expect(attempts.first { $0.task == "flaky" && $0.tryNumber == 1 }?.exitCode == 1)
        // Every finished attempt's container is gone, its output saved.
        #expect(attempts.allSatisfy { $0.logPath != nil })
        let left = try await driver.list()
        #expect(left.isEmpty, "\(left.map(\.name))")
        for container in left { try await driver.remove(container.id) }
    }

    /// The controller with `pid` holds the state directory's lock (its pid is in the lock file).
    static func holdsLock(state: String, pid: pid_t) -> Bool {
        let holder = try? String(contentsOfFile: state + "/controller.lock", encoding: .utf8)
        return holder?.trimmingCharacters(in: .whitespacesAndNewlines) == String(pid)
    }
}
