import Foundation
import ReconcileModel
import Testing

@testable import ReconcilePlanner

/// Task decisions of one run with an injected clock.
@Suite struct TaskPlannerTests {
    /// The order tasks are decided in, against the plain round-by-round definition it must keep
    /// (each round: the tasks whose `after` tasks were all placed before, in manifest order; what
    /// is never ready, as written) over seeded random DAGs with unknown names and cycles among them.
    @Test func tasksAreOrderedRoundByRoundAsWritten() {
        func rounds(_ tasks: [TaskSpec]) -> [String] {
            var placed: Set<String> = []
            var order: [String] = []
            var remaining = tasks
            while !remaining.isEmpty {
                let ready = remaining.filter { $0.after.allSatisfy(placed.contains) }
                guard !ready.isEmpty else { return order + remaining.map(\.name) }
                for task in ready {
                    placed.insert(task.name)
                    order.append(task.name)
                }
                remaining.removeAll { placed.contains($0.name) }
            }
            return order
        }
        var state: UInt64 = 0x7A5C
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for round in 0..<400 {
            let count = 1 + next(30)
            var names = (0..<count).map { "t\($0)-\(round)" }
            for index in stride(from: count - 1, to: 0, by: -1) { names.swapAt(index, next(index + 1)) }
            let tasks = names.enumerated().map { position, name in
                var after: [String] = []
                for _ in 0..<next(4) {
                    switch next(20) {
                    case 0: after.append("missing")
                    case 1: after.append(names[next(count)])  // anywhere: a cycle now and then
                    default: if position > 0 { after.append(names[next(position)]) }
                    }
                }
                return TaskSpec(name: name, command: ["true"], after: after)
            }
            #expect(
                TaskPlanner.topologicalOrder(tasks).map(\.name) == rounds(tasks), "\(tasks.map { ($0.name, $0.after) })"
            )
        }
        // A 2,000-task chain written backwards comes out forwards.
        let chain = (0..<2_000).reversed().map {
            TaskSpec(name: "c\($0)", command: ["true"], after: $0 == 0 ? [] : ["c\($0 - 1)"])
        }
        #expect(TaskPlanner.topologicalOrder(chain).map(\.name) == (0..<2_000).map { "c\($0)" })
    }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func task(
        _ name: String, after: [String] = [], trigger: TriggerRule = .allSuccess, retries: Int = 0,
        delay: Timespan = .seconds(60), backoff: RetryBackoff = .constant, maxDelay: Timespan = .hours(1),
        timeout: Timespan? = nil
    ) -> TaskSpec {
        TaskSpec(
            name: name, command: ["run", name], after: after, trigger: trigger, retries: retries, retryDelay: delay,
            retryBackoff: backoff, maxRetryDelay: maxDelay, timeout: timeout)
    }

    func ok(_ task: String, _ tryNumber: Int = 1, at offset: TimeInterval = 10) -> TaskAttempt {
        TaskAttempt(
            task: task, tryNumber: tryNumber, startedAt: t0, outcome: .succeeded(at: t0.addingTimeInterval(offset)))
    }

    func failed(_ task: String, _ tryNumber: Int = 1, at offset: TimeInterval = 10, code: Int = 1) -> TaskAttempt {
        TaskAttempt(
            task: task, tryNumber: tryNumber, startedAt: t0,
            outcome: .failed(exitCode: code, at: t0.addingTimeInterval(offset)))
    }

    func running(_ task: String, _ tryNumber: Int = 1) -> TaskAttempt {
        TaskAttempt(task: task, tryNumber: tryNumber, startedAt: t0, outcome: .running)
    }

    /// The datalab shape: two extracts, then enrich, then load.
    var etl: DAGSpec {
        DAGSpec(
            name: "etl",
            tasks: [
                task("extract-a"), task("extract-b"), task("enrich", after: ["extract-a", "extract-b"]),
                task("load", after: ["enrich"]),
            ])
    }

    func decide(_ dag: DAGSpec, _ attempts: [TaskAttempt], at offset: TimeInterval = 20) -> RunDecision {
        TaskPlanner.decide(
            dag: dag, runID: "scheduled__2026-11-27T11:00:00Z", attempts: attempts, now: t0.addingTimeInterval(offset))
    }

    @Test func rootsStartFirstWithDeterministicNames() {
        let decision = decide(etl, [])
        #expect(decision.starts.map(\.task) == ["extract-a", "extract-b"])
        #expect(decision.starts.first?.containerName == "etl-scheduled__2026-11-27T11_00_00Z-extract-a-1")
        #expect(decision.states["enrich"] == .waiting)
        #expect(decision.runState == .running)
    }

    @Test func aTaskStartsOnlyWhenAllUpstreamSucceeded() {
        #expect(decide(etl, [ok("extract-a"), running("extract-b")]).starts.isEmpty)
        let next = decide(etl, [ok("extract-a"), ok("extract-b")])
        #expect(next.starts.map(\.task) == ["enrich"])
        let done = decide(etl, [ok("extract-a"), ok("extract-b"), ok("enrich"), ok("load")])
        #expect(done.runState == .succeeded)
        #expect(done.failure == nil)
    }

    struct RetryCase: Sendable, CustomTestStringConvertible {
        var name: String
        var backoff: RetryBackoff
        var failedTry: Int
        var waited: TimeInterval
        var startsTry: Int?
        var testDescription: String { name }
    }

    static let retryCases: [RetryCase] = [
        RetryCase(name: "constant: waits 60s", backoff: .constant, failedTry: 1, waited: 59, startsTry: nil),
        RetryCase(name: "constant: retries after 60s", backoff: .constant, failedTry: 1, waited: 60, startsTry: 2),
        RetryCase(name: "constant: third try after 60s", backoff: .constant, failedTry: 2, waited: 60, startsTry: 3),
        RetryCase(
            name: "exponential: second try after 60s", backoff: .exponential, failedTry: 1, waited: 60, startsTry: 2),
        RetryCase(
            name: "exponential: third try waits 120s", backoff: .exponential, failedTry: 2, waited: 119, startsTry: nil),
        RetryCase(
            name: "exponential: third try after 120s", backoff: .exponential, failedTry: 2, waited: 120, startsTry: 3),
        RetryCase(
            name: "exponential: capped at maxRetryDelay", backoff: .exponential, failedTry: 3, waited: 200, startsTry: 4
        ),
        RetryCase(name: "retries exhausted", backoff: .constant, failedTry: 4, waited: 10_000, startsTry: nil),
    ]

    /// retries: 3 (four tries), retryDelay 60s, maxRetryDelay 200s.
    @Test(arguments: retryCases) func retries(_ item: RetryCase) {
        let dag = DAGSpec(
            name: "etl",
            tasks: [task("a", retries: 3, delay: .seconds(60), backoff: item.backoff, maxDelay: .seconds(200))])
        let attempts = (1...item.failedTry).map { failed("a", $0, at: 0) }
        let decision = decide(dag, attempts, at: item.waited)
        #expect(decision.starts.map(\.tryNumber) == (item.startsTry.map { [$0] } ?? []))
        if item.startsTry == nil {
            if item.failedTry > 3 {
                #expect(decision.states["a"] == .failed)
            } else {
                #expect(decision.states["a"] == .retrying(retryAt: t0.addingTimeInterval(item.waited + 1)))
            }
        }
    }

    @Test func exhaustedRetriesFailDownstreamAndTheRunNamesTheRootCauseOnce() {
        let dag = DAGSpec(
            name: "etl",
            tasks: [
                task("extract-a"), task("extract-b", retries: 1), task("enrich", after: ["extract-a", "extract-b"]),
                task("load", after: ["enrich"]), task("cleanup", after: ["load"], trigger: .allDone),
                task("page", after: ["enrich"], trigger: .anyFailed),
            ])
        let attempts = [ok("extract-a"), failed("extract-b", 1, code: 3), failed("extract-b", 2, code: 3)]
        let decision = decide(dag, attempts, at: 1000)
        #expect(decision.states["extract-b"] == .failed)
        #expect(decision.states["enrich"] == .upstreamFailed)
        #expect(decision.states["load"] == .upstreamFailed)
        // allDone runs once everything upstream is done, failed or not; anyFailed fires on the failure.
        #expect(Set(decision.starts.map(\.task)) == ["cleanup", "page"])
        #expect(decision.runState == .running)
        let finished = decide(dag, attempts + [ok("cleanup"), ok("page")], at: 1000)
        #expect(finished.runState == .failed)
        #expect(
            finished.failure
                == "dag etl run scheduled__2026-11-27T11:00:00Z failed: task extract-b failed after 2 tries (exit 3); "
                + "not run (upstream failed): enrich, load")
    }

    @Test func anyFailedIsSkippedWhenEverythingSucceeded() {
        let dag = DAGSpec(
            name: "etl",
            tasks: [task("a"), task("alert", after: ["a"], trigger: .anyFailed), task("b", after: ["alert"])])
        let decision = decide(dag, [ok("a")])
        #expect(decision.states["alert"] == .skipped)
        #expect(decision.states["b"] == .skipped)  // allSuccess below a skipped task is skipped too
        #expect(decision.runState == .succeeded)
    }

    @Test func anAttemptPastItsTimeoutIsKilledAndThenRetried() {
        let dag = DAGSpec(name: "etl", tasks: [task("slow", retries: 1, delay: .seconds(5), timeout: .seconds(30))])
        #expect(decide(dag, [running("slow")], at: 29).kills.isEmpty)
        let late = decide(dag, [running("slow")], at: 31)
        #expect(late.kills.map(\.containerName) == ["etl-scheduled__2026-11-27T11_00_00Z-slow-1"])
        let killed = TaskAttempt(
            task: "slow", tryNumber: 1, startedAt: t0, outcome: .timedOut(at: t0.addingTimeInterval(31)))
        #expect(decide(dag, [killed], at: 36).starts.map(\.tryNumber) == [2])
        let twice = TaskAttempt(
            task: "slow", tryNumber: 2, startedAt: t0, outcome: .timedOut(at: t0.addingTimeInterval(70)))
        let final = decide(dag, [killed, twice], at: 80)
        #expect(final.runState == .failed)
        #expect(final.failure?.contains("task slow failed after 2 tries (timed out)") == true)
    }

    /// A DAG edited while a run is in flight: the run follows the definition it is given; a task added
    /// downstream of finished ones starts, a removed task's attempts are ignored.
    @Test func aDAGEditedMidRunContinuesWithTheNewDefinition() {
        let edited = DAGSpec(
            name: "etl",
            tasks: [
                task("extract-a"), task("extract-b"), task("enrich", after: ["extract-a", "extract-b"]),
                task("publish", after: ["enrich"]),
            ])
        let attempts = [ok("extract-a"), ok("extract-b"), ok("enrich"), running("load")]
        let decision = decide(edited, attempts)
        #expect(decision.starts.map(\.task) == ["publish"])
        #expect(decision.states["load"] == nil)
    }

    @Test func tasksAreOrderedSoUpstreamComesFirstWhateverTheFileOrder() {
        let dag = DAGSpec(
            name: "etl", tasks: [task("load", after: ["enrich"]), task("enrich", after: ["extract"]), task("extract")])
        let first = decide(dag, [])
        #expect(first.starts.map(\.task) == ["extract"])
        #expect(decide(dag, [ok("extract")]).starts.map(\.task) == ["enrich"])
    }

    /// After a rerun cleared two failed tries, the task starts as try 3, and its retries count anew.
    @Test func aRerunNumbersTriesOnAndCountsRetriesAnew() {
        let dag = DAGSpec(name: "etl", tasks: [task("a", retries: 1, delay: .zero)])
        let now = t0.addingTimeInterval(100)
        let fresh = TaskPlanner.decide(dag: dag, runID: "r", attempts: [], now: now, priorTries: ["a": 2])
        #expect(fresh.starts.map(\.tryNumber) == [3])
        #expect(fresh.starts.first?.containerName == "etl-r-a-3")
        let retried = TaskPlanner.decide(
            dag: dag, runID: "r", attempts: [failed("a", 3)], now: now, priorTries: ["a": 2])
        #expect(retried.starts.map(\.tryNumber) == [4])
        let exhausted = TaskPlanner.decide(
            dag: dag, runID: "r", attempts: [failed("a", 3), failed("a", 4)], now: now, priorTries: ["a": 2])
        #expect(exhausted.states["a"] == .failed)
        #expect(exhausted.failure?.contains("task a failed after 2 tries") == true)
    }
}
