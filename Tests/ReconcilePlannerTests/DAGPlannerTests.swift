import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// The pure DAG step: each waiting reason, placement on the shared ledger, and when it needs to run
/// again.
@Suite struct DAGPlannerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func task(
        _ name: String, after: [String] = [], retries: Int = 0, delay: Timespan = .seconds(60),
        timeout: Timespan? = nil, cpu: Int64 = 100
    ) -> TaskSpec {
        TaskSpec(
            name: name, command: ["run", name], after: after, retries: retries, retryDelay: delay, timeout: timeout,
            resources: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: 64 << 20)))
    }

    func ledger(cpu: Int64 = 4000) -> NodeLedger {
        NodeLedger(nodes: [
            NodeLedger.Node(
                name: "local",
                capacity: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: gi)),
                isProcessNode: true)
        ])
    }

    func run(_ id: String, _ attempts: [TaskAttempt] = [], at offset: TimeInterval = 0) -> DAGRun {
        DAGRun(
            runID: id, logicalDate: t0.addingTimeInterval(offset), createdAt: t0.addingTimeInterval(offset),
            attempts: attempts)
    }

    func reasons(_ actions: DAGActions) -> [String: WaitingReason] {
        Dictionary(actions.waiting.map { ("\($0.runID)/\($0.task)", $0.reason) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func aTaskWaitsOnItsUnfinishedUpstream() {
        let dag = DAGSpec(name: "etl", tasks: [task("a"), task("b"), task("c", after: ["a", "b"])])
        let done = TaskAttempt(task: "a", tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0))
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1", [done])])], ledger: ledger(), now: t0)
        #expect(actions.starts.map(\.task) == ["b"])
        #expect(actions.starts.first?.node == "local")
        #expect(reasons(actions) == ["r1/c": .upstream(["b"])])
        #expect(reasons(actions)["r1/c"]?.description == "waiting on upstream b")
        #expect(actions.active)
        #expect(actions.requeueAt == nil)  // nothing comes due by the clock: an exit wakes it
    }

    @Test func aRunBeyondMaxActiveRunsWaitsItsTurn() {
        let dag = DAGSpec(name: "etl", maxActiveRuns: 1, tasks: [task("a")])
        let underWay = TaskAttempt(task: "a", tryNumber: 1, startedAt: t0, outcome: .running)
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r2", at: 60), run("r1", [underWay])])],
            ledger: ledger(), now: t0)
        #expect(actions.starts.isEmpty)
        #expect(reasons(actions) == ["r2/a": .maxActiveRuns(1)])
        #expect(reasons(actions)["r2/a"]?.description == "run queued: maxActiveRuns 1 under way")
    }

    /// The ledger is shared: what one start books, the next one sees; the one that does not fit waits
    /// with the room it lacks.
    @Test func aTaskQueuedForRoomSaysWhatItNeeds() {
        let dag = DAGSpec(name: "etl", tasks: [task("a", cpu: 600), task("b", cpu: 600)])
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1")])], ledger: ledger(cpu: 1000), now: t0)
        #expect(actions.starts.map(\.task) == ["a"])
        guard case .room(let reason, let rejected) = reasons(actions)["r1/b"] else {
            Issue.record("b should wait for room: \(actions.waiting)")
            return
        }
        #expect(reason == "needs cpu 600m, largest free is 400m (local)")
        #expect(rejected.map(\.description) == ["local: needs cpu 600m, 400m free"])
    }

    @Test func aFailedTaskWaitsForItsRetryAndTheStepComesBackThen() {
        let dag = DAGSpec(name: "etl", tasks: [task("a", retries: 2, delay: .seconds(60))])
        let failed = TaskAttempt(
            task: "a", tryNumber: 1, startedAt: t0, outcome: .failed(exitCode: 3, at: t0.addingTimeInterval(10)))
        let input = DAGStepInput(dag: dag, cursor: t0, running: [run("r1", [failed])])
        let early = DAGPlanner.step([input], ledger: ledger(), now: t0.addingTimeInterval(30))
        let due = t0.addingTimeInterval(70)
        #expect(reasons(early) == ["r1/a": .retry(at: due, tryNumber: 2)])
        #expect(early.requeueAt == due)
        let late = DAGPlanner.step([input], ledger: ledger(), now: due)
        #expect(late.starts.map(\.tryNumber) == [2])
        #expect(late.waiting.isEmpty)
    }

    @Test func aRunningAttemptsTimeoutIsWhenTheStepRunsAgain() {
        let dag = DAGSpec(name: "etl", tasks: [task("a", timeout: .seconds(30))])
        let running = TaskAttempt(task: "a", tryNumber: 1, startedAt: t0, outcome: .running)
        let input = DAGStepInput(dag: dag, cursor: t0, running: [run("r1", [running])])
        let before = DAGPlanner.step([input], ledger: ledger(), now: t0.addingTimeInterval(10))
        #expect(before.requeueAt == t0.addingTimeInterval(30))
        #expect(before.kills.isEmpty)
        let after = DAGPlanner.step([input], ledger: ledger(), now: t0.addingTimeInterval(31))
        #expect(after.kills.map(\.task) == ["a"])
        #expect(after.kills.first?.timeout == .seconds(30))
    }

    /// A scheduled DAG: the first sight stores the cursor; the step comes back at the next tick, and
    /// then creates that run and starts its first task in the same step.
    @Test func aScheduledDAGIsRequeuedForItsNextTick() throws {
        let dag = DAGSpec(name: "hourly", schedule: try CronSchedule(parsing: "@hourly"), tasks: [task("a")])
        let first = DAGPlanner.step([DAGStepInput(dag: dag, cursor: nil, running: [])], ledger: ledger(), now: t0)
        #expect(first.schedules.map(\.runs.count) == [0])
        let tick = try #require(first.requeueAt)
        #expect(tick > t0 && tick <= t0.addingTimeInterval(3600))
        #expect(!first.active)
        let cursor = try #require(first.schedules.first?.cursor)
        let atTick = DAGPlanner.step([DAGStepInput(dag: dag, cursor: cursor, running: [])], ledger: ledger(), now: tick)
        #expect(atTick.schedules.first?.runs.map(\.logicalDate) == [tick])
        #expect(atTick.starts.map(\.task) == ["a"])
        #expect(atTick.requeueAt == tick.addingTimeInterval(3600))
    }

    /// A run whose tasks are all done is finished by the step, with the cause of a failure.
    @Test func finishedRunsAreFinished() {
        let dag = DAGSpec(name: "etl", tasks: [task("a")])
        let failed = TaskAttempt(
            task: "a", tryNumber: 1, startedAt: t0, outcome: .failed(exitCode: -1, at: t0),
            error: .startFailed("no such image"))
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1", [failed])])], ledger: ledger(), now: t0)
        #expect(actions.finishes.map(\.succeeded) == [false])
        #expect(
            actions.finishes.first?.failure
                == "dag etl run r1 failed: task a failed after 1 try (start failed: no such image)")
        #expect(!actions.active)
    }

    /// A run's tasks that share a run-scoped volume run where the first of them ran, even when
    /// another node has more room; parallel first tasks of one run land together.
    @Test func tasksOfARunFollowTheirRunVolume() {
        func sharing(_ name: String, after: [String] = []) -> TaskSpec {
            var spec = task(name, after: after)
            spec.volumes = [VolumeMount(source: .run("work"), mount: "/work")]
            return spec
        }
        let dag = DAGSpec(
            name: "etl", tasks: [sharing("a"), sharing("b"), sharing("c", after: ["a", "b"]), task("solo")],
            volumes: [RunVolumeSpec(name: "work")])
        func nodes() -> NodeLedger {
            NodeLedger(
                nodes: ["big", "small"].map { name in
                    NodeLedger.Node(
                        name: name,
                        capacity: Resources(
                            cpu: CPUQuantity(millicores: name == "big" ? 8000 : 1000), memory: MemoryQuantity(bytes: gi)
                        ),
                        isProcessNode: true)
                })
        }
        let first = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1")])], ledger: nodes(), now: t0)
        let placed = Dictionary(first.starts.map { ($0.task, $0.node) }, uniquingKeysWith: { a, _ in a })
        #expect(placed["a"] != nil && placed["a"] == placed["b"])

        // Later: a and b ran on small; c follows them there although big has more room.
        let done = ["a", "b"].map {
            TaskAttempt(task: $0, tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0), node: "small")
        }
        let solo = TaskAttempt(task: "solo", tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0), node: "big")
        let later = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1", done + [solo])])], ledger: nodes(), now: t0)
        #expect(later.starts.map(\.task) == ["c"])
        #expect(later.starts.first?.node == "small")
        // When that node cannot take it, the task waits and says why.
        var full = nodes()
        _ = full.place(
            NodeLedger.Demand(
                resources: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 20)),
                requirement: NodeRequirement(
                    image: false, command: true, volume: .init(volume: "other", node: "small")), kind: .task))
        let waiting = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1", done + [solo])])], ledger: full, now: t0)
        #expect(waiting.starts.isEmpty)
        guard case .room(_, let rejected)? = reasons(waiting)["r1/c"] else {
            Issue.record("c should wait for room: \(reasons(waiting))")
            return
        }
        #expect(rejected.contains { $0.node == "big" && $0.reason.contains("does not hold volume work of this run") })
    }
}
