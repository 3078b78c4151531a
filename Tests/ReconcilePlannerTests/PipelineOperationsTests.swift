import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// The planner rules of operating pipelines: pools, sensors, cancels, marks, runs after other DAGs,
/// params and task outputs (all pure).
@Suite struct PipelineOperationsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func task(
        _ name: String, after: [String] = [], pool: String? = nil, cpu: Int64 = 100, retries: Int = 0
    )
        -> TaskSpec
    {
        TaskSpec(
            name: name, command: ["run", name], after: after, retries: retries, retryDelay: .seconds(1),
            resources: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: 64 << 20)),
            pool: pool)
    }

    func ledger(cpu: Int64 = 4000) -> NodeLedger {
        NodeLedger(nodes: [
            NodeLedger.Node(
                name: "local",
                capacity: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: 1 << 30)),
                isProcessNode: true)
        ])
    }

    func run(
        _ id: String, _ attempts: [TaskAttempt] = [], at offset: TimeInterval = 0, cancel: Bool = false
    )
        -> DAGRun
    {
        DAGRun(
            runID: id, logicalDate: t0.addingTimeInterval(offset), createdAt: t0.addingTimeInterval(offset),
            attempts: attempts, cancelRequested: cancel)
    }

    func running(_ task: String) -> TaskAttempt {
        TaskAttempt(task: task, tryNumber: 1, startedAt: t0, outcome: .running, node: "local")
    }

    // MARK: Pools

    @Test(arguments: [
        // (slots, tries already running in the pool, starts expected in oldest-run order)
        (2, 0, ["old/a", "old/b"]),
        (2, 1, ["old/a"]),
        (3, 0, ["old/a", "old/b", "new/a"]),
        (2, 2, [String]()),
    ])
    func aPoolCapsRunningTasksAcrossDAGsOldestRunFirst(slots: Int, busy: Int, expected: [String]) {
        // Two DAGs with two pooled tasks each; the DAG given first has the newer run.
        let first = DAGSpec(name: "first", maxActiveRuns: 5, tasks: [task("a", pool: "wh"), task("b", pool: "wh")])
        let second = DAGSpec(
            name: "second", maxActiveRuns: 5, tasks: [task("a", pool: "wh"), task("b", pool: "wh"), task("c")])
        // An older run of `second` holds `busy` pooled tries (its c runs too, outside the pool).
        var holding = [running("c")]
        holding.append(
            busy >= 1 ? running("a") : TaskAttempt(task: "a", tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0)))
        holding.append(
            busy >= 2 ? running("b") : TaskAttempt(task: "b", tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0)))
        let actions = DAGPlanner.step(
            [
                DAGStepInput(dag: first, cursor: t0, running: [run("new", at: 60)]),
                DAGStepInput(
                    dag: second, cursor: t0,
                    running: [run("old", at: 0), run("held", holding, at: -60)]),
            ], ledger: ledger(), now: t0, pools: [PoolSpec(name: "wh", slots: slots)])
        let pooledStarts = actions.starts.filter { $0.task != "c" }.map { "\($0.runID)/\($0.task)" }
        #expect(pooledStarts == expected)
        let waiting = actions.waiting.filter { if case .pool = $0.reason { true } else { false } }
        #expect(waiting.count == 4 - expected.count)
        if let first = waiting.first {
            #expect(first.reason == .pool("wh", inUse: slots, slots: slots))
            #expect(first.reason.description == "waiting for pool wh (\(slots)/\(slots) in use)")
        }
        // A task without a pool is not held back by a full one.
        #expect(actions.starts.contains { $0.runID == "old" && $0.task == "c" })
    }

    // MARK: Sensors

    @Test func aSensorStartsWithoutRoomWhileATaskTakesTheWholeNode() {
        let sensor = TaskSpec(
            name: "landed", sensor: SensorSpec(condition: .file(path: "/data/ready"), interval: .seconds(1)))
        let dag = DAGSpec(name: "land", tasks: [sensor, task("load", after: ["landed"]), task("big", cpu: 1000)])
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1")])], ledger: ledger(cpu: 1000), now: t0)
        let starts = Dictionary(uniqueKeysWithValues: actions.starts.map { ($0.task, $0) })
        #expect(starts["landed"]?.placement == nil && starts["landed"]?.node == "")
        #expect(starts["big"]?.node == "local", "the sensor booked nothing, so the whole node is free")
        // With the node full, the sensor still starts and the task queues.
        let full = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1")])], ledger: ledger(cpu: 500), now: t0)
        #expect(full.starts.map(\.task) == ["landed"])
    }

    // MARK: Cancel and mark

    @Test func aCancelledRunStopsItsRunningTriesAndFinishesCancelled() {
        let dag = DAGSpec(name: "etl", tasks: [task("a"), task("b"), task("c", after: ["a"])])
        let done = TaskAttempt(task: "b", tryNumber: 1, startedAt: t0, outcome: .succeeded(at: t0))
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: dag, cursor: t0, running: [run("r1", [running("a"), done], cancel: true)])],
            ledger: ledger(), now: t0)
        #expect(actions.cancels.map(\.runID) == ["r1"] && actions.cancels.first?.running == ["a": 1])
        #expect(actions.finishes.map(\.cancelled) == [true])
        #expect(actions.finishes.first?.failure == nil, "a cancel is no failure: no incident")
        #expect(actions.starts.isEmpty && actions.waiting.isEmpty && actions.kills.isEmpty)
    }

    @Test(arguments: [(false, true), (true, false)])
    func aFailureMarkedByHandIsNotRetried(marked: Bool, retried: Bool) {
        let dag = DAGSpec(name: "etl", tasks: [task("a", retries: 3)])
        let failed = TaskAttempt(
            task: "a", tryNumber: 1, startedAt: t0, outcome: .failed(exitCode: 1, at: t0), marked: marked)
        let decision = TaskPlanner.decide(dag: dag, runID: "r1", attempts: [failed], now: t0.addingTimeInterval(60))
        #expect((decision.starts.first?.task == "a") == retried)
        #expect((decision.runState == .failed) == !retried)
        if marked { #expect(decision.failure?.contains("marked failed by hand") == true) }
    }

    @Test func aTaskMarkedSucceededLetsItsDownstreamRun() {
        let dag = DAGSpec(name: "etl", tasks: [task("a"), task("b", after: ["a"])])
        let failed = TaskAttempt(task: "a", tryNumber: 1, startedAt: t0, outcome: .failed(exitCode: 1, at: t0))
        let marked = TaskAttempt(task: "a", tryNumber: 2, startedAt: t0, outcome: .succeeded(at: t0), marked: true)
        let decision = TaskPlanner.decide(dag: dag, runID: "r1", attempts: [failed, marked], now: t0)
        #expect(decision.starts.map(\.task) == ["b"])
    }

    // MARK: Runs after other DAGs

    func upstream(
        _ dag: String, _ start: TimeInterval, _ end: TimeInterval, finished: TimeInterval
    )
        -> UpstreamRuns.Run
    {
        UpstreamRuns.Run(
            dag: dag, runID: "scheduled__\(Int(end))", dataIntervalStart: t0.addingTimeInterval(start),
            dataIntervalEnd: t0.addingTimeInterval(end), finishedAt: t0.addingTimeInterval(finished))
    }

    @Test func aRunStartsForAnIntervalEveryUpstreamSucceededFor() {
        let report = DAGSpec(name: "report", catchup: .missed(limit: nil), tasks: [task("t")], after: ["a", "b"])
        let runs = [
            upstream("a", 0, 3600, finished: 3700), upstream("b", 0, 3600, finished: 3900),  // complete at 3900
            upstream("a", 3600, 7200, finished: 7300),  // b has not run 3600..7200 yet
            upstream("b", 0, 3000, finished: 3950),  // another interval: never matches a's
        ]
        let schedule = RunScheduler.afterRuns(
            dag: report, cursor: t0.addingTimeInterval(3000), upstream: UpstreamRuns(succeeded: runs, existing: []),
            now: t0.addingTimeInterval(8000))
        #expect(schedule.runs.map(\.runID) == [RunScheduler.afterRunID(intervalEnd: t0.addingTimeInterval(3600))])
        #expect(schedule.runs.first?.dataIntervalStart == t0)
        #expect(schedule.runs.first?.logicalDate == t0.addingTimeInterval(3600))
        #expect(schedule.cursor > t0.addingTimeInterval(7300))
        // Already created: nothing again.
        let again = RunScheduler.afterRuns(
            dag: report, cursor: t0.addingTimeInterval(3000),
            upstream: UpstreamRuns(succeeded: runs, existing: Set(schedule.runs.map(\.runID))),
            now: t0.addingTimeInterval(8000))
        #expect(again.runs.isEmpty)
        // Completed before the cursor (history, or before the DAG was first seen): nothing.
        let late = RunScheduler.afterRuns(
            dag: report, cursor: t0.addingTimeInterval(4000), upstream: UpstreamRuns(succeeded: runs, existing: []),
            now: t0.addingTimeInterval(8000))
        #expect(late.runs.isEmpty)
    }

    @Test func firstSightPauseAndCatchupOfAnAfterDAG() {
        var report = DAGSpec(name: "report", tasks: [task("t")], after: ["a"])
        let runs = [upstream("a", 0, 60, finished: 100), upstream("a", 60, 120, finished: 160)]
        let now = t0.addingTimeInterval(200)
        let first = RunScheduler.afterRuns(
            dag: report, cursor: nil, upstream: UpstreamRuns(succeeded: runs, existing: []), now: now)
        #expect(first.runs.isEmpty && first.cursor == now, "history starts nothing")
        // catchup false (latestOnly): two intervals completed meanwhile, only the latest runs.
        let latest = RunScheduler.afterRuns(
            dag: report, cursor: t0, upstream: UpstreamRuns(succeeded: runs, existing: []), now: now)
        #expect(latest.runs.map(\.logicalDate) == [t0.addingTimeInterval(120)])
        report.paused = true
        let paused = RunScheduler.afterRuns(
            dag: report, cursor: t0, upstream: UpstreamRuns(succeeded: runs, existing: []), now: now)
        #expect(paused.runs.isEmpty && paused.cursor == t0, "paused: nothing, and the cursor stays")
        // Through the step: a first sight records the cursor.
        report.paused = false
        let actions = DAGPlanner.step(
            [DAGStepInput(dag: report, cursor: nil, running: [], upstream: nil)], ledger: ledger(), now: now)
        #expect(actions.schedules.map(\.cursor) == [now])
    }

    // MARK: Params and outputs

    @Test func paramsAreCheckedAndDefaulted() throws {
        let dag = DAGSpec(
            name: "load", tasks: [task("a")],
            params: [
                DAGParam(name: "account", type: .int, defaultValue: "0"),
                DAGParam(name: "target", type: .enumeration(["staging", "prod"]), defaultValue: "prod"),
                DAGParam(name: "dry", type: .bool, defaultValue: "false"),
                DAGParam(name: "note", type: .string),
            ])
        #expect(
            try dag.resolveParams(["account": "042", "dry": "yes", "note": "backfill"])
                == ["account": "42", "target": "prod", "dry": "true", "note": "backfill"])
        #expect(DAGParam.variable("account") == "PARAM_ACCOUNT")
        let refusals: [([String: String], String)] = [
            (["note": "x", "acount": "1"], "dag load has no param \"acount\"; its params: account, target, dry, note"),
            (["note": "x", "account": "many"], "param account is an int, \"many\" is not a whole number"),
            (["note": "x", "target": "dev"], "param target is one of staging, prod, not \"dev\""),
            (["note": "x", "dry": "maybe"], "param dry is a bool: true or false, not \"maybe\""),
            ([:], "dag load: param note has no default; give it with --param note=VALUE"),
            (["note": "a\nb"], "param note: a value may not hold control characters (newlines)"),
        ]
        for (given, message) in refusals {
            #expect(throws: ValueError(message)) { try dag.resolveParams(given) }
        }
    }

    @Test func outputsAreKeyValueLinesWithinBounds() throws {
        #expect(
            try TaskOutputs.parse(Array("# counts\nROWS=42\n\nfile=/data/a=b.csv\r\nROWS=43\n".utf8))
                == ["ROWS": "43", "file": "/data/a=b.csv"])
        #expect(throws: ValueError("outputs line 2 is not KEY=VALUE: \"oops\"")) {
            try TaskOutputs.parse(Array("A=1\noops\n".utf8))
        }
        #expect(
            throws: ValueError(
                "outputs line 1: \"1A\" is not a key (letters, digits and _, not starting with a digit, at most 64)")
        ) { try TaskOutputs.parse(Array("1A=x".utf8)) }
        let large = Array(repeating: UInt8(ascii: "a"), count: TaskOutputs.maxBytes + 1)
        #expect(throws: ValueError.self) { try TaskOutputs.parse(large) }
        let many = (0...TaskOutputs.maxKeys).map { "K\($0)=v" }.joined(separator: "\n")
        #expect(throws: ValueError("the outputs file sets more than 100 keys")) {
            try TaskOutputs.parse(Array(many.utf8))
        }
        #expect(TaskSpec.outputVariable(task: "load-warehouse", key: "ROWS") == "OUTPUT_LOAD_WAREHOUSE_ROWS")
    }
}
