import Foundation
import ReconcileModel

/// One attempt of a task in a run, as recorded (the store) and observed (the container).
public struct TaskAttempt: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case running
        case succeeded(at: Date)
        case failed(exitCode: Int, at: Date)
        /// Killed for running past the task's `timeout`.
        case timedOut(at: Date)
    }

    public var task: String
    /// 1 for the first attempt.
    public var tryNumber: Int
    public var startedAt: Date
    public var outcome: Outcome
    /// Why it failed without an exit code of its own (named in the run's failure instead of a code).
    public var error: AttemptError?

    /// Where it ran (a run's tasks that share a run-scoped volume run where the first one did).
    public var node: String?
    /// Recorded by a person (`runs mark`): final, a failure is not retried.
    public var marked: Bool

    public init(
        task: String, tryNumber: Int, startedAt: Date, outcome: Outcome, error: AttemptError? = nil,
        node: String? = nil, marked: Bool = false
    ) {
        self.marked = marked
        self.node = node
        self.error = error
        self.task = task
        self.tryNumber = tryNumber
        self.startedAt = startedAt
        self.outcome = outcome
    }
}

/// A task's state in a run.
public enum TaskState: Sendable, Hashable {
    /// Upstream tasks are not done yet.
    case waiting
    /// Failed; the next try starts at `retryAt`.
    case retrying(retryAt: Date)
    case running
    case succeeded
    case failed
    /// An upstream task failed, so this one never runs (trigger rule allSuccess).
    case upstreamFailed
    /// Its trigger rule did not fire (anyFailed with every upstream successful).
    case skipped

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .upstreamFailed, .skipped: true
        case .waiting, .retrying, .running: false
        }
    }
}

/// What to do in one run this pass.
public struct RunDecision: Sendable, Hashable {
    public struct Start: Sendable, Hashable {
        public var task: String
        public var tryNumber: Int
        /// Deterministic: recorded before it starts, so a crash in between adopts it instead of starting twice.
        public var containerName: String
    }

    public enum RunState: Sendable, Hashable {
        case running, succeeded, failed
    }

    public var starts: [Start]
    /// Running attempts past their timeout: kill them (the attempt then counts as failed).
    public var kills: [Start]
    public var states: [String: TaskState]
    public var runState: RunState
    /// Once, when the run has failed: which task(s) caused it, for the alert.
    public var failure: String?
}

/// Task decisions of one DAG run (pure): trigger rules, upstreamFailed propagation, retries with
/// constant or exponential backoff (capped), and per-attempt timeouts.
public enum TaskPlanner {
    /// - Parameter priorTries: per task, tries made before a rerun cleared them; new tries number on
    ///   from there (so container names stay unique) and retries count only the new ones.
    public static func decide(
        dag: DAGSpec, runID: String, attempts: [TaskAttempt], now: Date, priorTries: [String: Int] = [:]
    ) -> RunDecision {
        let byTask = Dictionary(grouping: attempts, by: \.task).mapValues { $0.sorted { $0.tryNumber < $1.tryNumber } }
        var states: [String: TaskState] = [:]
        var starts: [RunDecision.Start] = []
        var kills: [RunDecision.Start] = []
        var failedTries: [String: (tries: Int, detail: String)] = [:]
        for task in topologicalOrder(dag.tasks) {
            func start(_ tryNumber: Int) -> RunDecision.Start {
                RunDecision.Start(
                    task: task.name, tryNumber: tryNumber,
                    containerName: containerName(dag: dag.name, runID: runID, task: task.name, tryNumber: tryNumber))
            }
            if let latest = byTask[task.name]?.last {
                switch latest.outcome {
                case .running:
                    if let timeout = task.timeout, now.timeIntervalSince(latest.startedAt) > timeout.seconds {
                        kills.append(start(latest.tryNumber))
                    }
                    states[task.name] = .running
                case .succeeded:
                    states[task.name] = .succeeded
                case .failed(_, let at), .timedOut(let at):
                    let triesNow = latest.tryNumber - priorTries[task.name, default: 0]
                    if triesNow <= task.retries && !latest.marked {
                        let retryAt = at.addingTimeInterval(retryDelay(task, afterTry: triesNow))
                        if now >= retryAt {
                            starts.append(start(latest.tryNumber + 1))
                            states[task.name] = .running
                        } else {
                            states[task.name] = .retrying(retryAt: retryAt)
                        }
                    } else {
                        states[task.name] = .failed
                        let detail: String =
                            if latest.marked {
                                "marked failed by hand"
                            } else if case .outOfMemory(let limit) = latest.error,
                                case .failed(let code, _) = latest.outcome
                            {
                                "exit \(code), out of memory" + (limit.map { " at its \($0) limit" } ?? "")
                            } else if let error = latest.error, case .failed = latest.outcome {
                                error.description
                            } else if case .failed(let code, _) = latest.outcome {
                                "exit \(code)"
                            } else {
                                "timed out"
                            }
                        failedTries[task.name] = (triesNow, detail)
                    }
                }
                continue
            }
            let upstream = task.after.map { states[$0] ?? .waiting }
            let anyFailed = upstream.contains { $0 == .failed || $0 == .upstreamFailed }
            let allTerminal = upstream.allSatisfy(\.isTerminal)
            switch task.trigger {
            case .allSuccess:
                if anyFailed {
                    states[task.name] = .upstreamFailed
                } else if !allTerminal {
                    states[task.name] = .waiting
                } else if upstream.contains(.skipped) {
                    states[task.name] = .skipped
                } else {
                    starts.append(start(priorTries[task.name, default: 0] + 1))
                    states[task.name] = .running
                }
            case .allDone:
                if allTerminal {
                    starts.append(start(priorTries[task.name, default: 0] + 1))
                    states[task.name] = .running
                } else {
                    states[task.name] = .waiting
                }
            case .anyFailed:
                if anyFailed {
                    starts.append(start(priorTries[task.name, default: 0] + 1))
                    states[task.name] = .running
                } else {
                    states[task.name] = allTerminal ? .skipped : .waiting
                }
            }
        }
        let done = states.values.allSatisfy(\.isTerminal)
        let failedRun = done && states.values.contains { $0 == .failed || $0 == .upstreamFailed }
        var failure: String?
        if failedRun {
            let causes = failedTries.sorted { $0.key < $1.key }.map { name, info in
                "task \(name) failed after \(info.tries) tr\(info.tries == 1 ? "y" : "ies") (\(info.detail))"
            }
            let blocked = states.filter { $0.value == .upstreamFailed }.keys.sorted()
            failure =
                "dag \(dag.name) run \(runID) failed: " + causes.joined(separator: "; ")
                + (blocked.isEmpty ? "" : "; not run (upstream failed): " + blocked.joined(separator: ", "))
        }
        return RunDecision(
            starts: starts, kills: kills, states: states,
            runState: done ? (failedRun ? .failed : .succeeded) : .running, failure: failure)
    }

    /// The wait before the try after `tryNumber`: `retryDelay`, or for exponential backoff
    /// `retryDelay * 2^(tryNumber-1)`, at most `maxRetryDelay`.
    public static func retryDelay(_ task: TaskSpec, afterTry tryNumber: Int) -> TimeInterval {
        switch task.retryBackoff {
        case .constant:
            return task.retryDelay.seconds
        case .exponential:
            let delay = task.retryDelay.seconds * pow(2, Double(min(max(0, tryNumber - 1), 30)))
            return min(delay, task.maxRetryDelay.seconds)
        }
    }

    /// `<dag>-<run>-<task>-<try>` with the run id's characters made container-name safe.
    public static func containerName(dag: String, runID: String, task: String, tryNumber: Int) -> String {
        let run = String(runID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return "\(dag)-\(run)-\(task)-\(tryNumber)"
    }

    /// Tasks with every task after all of its `after` tasks, round by round (a round: the tasks
    /// whose `after` tasks were all in earlier rounds, in manifest order); tasks that never get
    /// there (a cycle or an unknown name, which the manifest loader rejects) follow as written.
    /// Linear in tasks and edges: it runs at every step of every run (repeated filtering was
    /// quadratic in a chain's length).
    static func topologicalOrder(_ tasks: [TaskSpec]) -> [TaskSpec] {
        var index: [String: Int] = [:]
        for (position, task) in tasks.enumerated() where index[task.name] == nil { index[task.name] = position }
        var waiting = [Int](repeating: 0, count: tasks.count)
        var dependents = [[Int]](repeating: [], count: tasks.count)
        for (position, task) in tasks.enumerated() {
            for name in Set(task.after) {
                guard let upstream = index[name] else {
                    waiting[position] = .max  // never ready
                    continue
                }
                if waiting[position] != .max { waiting[position] += 1 }
                dependents[upstream].append(position)
            }
        }
        var placed = [Bool](repeating: false, count: tasks.count)
        var order: [TaskSpec] = []
        order.reserveCapacity(tasks.count)
        var round = tasks.indices.filter { waiting[$0] == 0 }
        while !round.isEmpty {
            var next: [Int] = []
            for position in round {
                placed[position] = true
                order.append(tasks[position])
            }
            for position in round {
                // A name given twice counts once; a duplicate task name's later copies wait on the first.
                guard index[tasks[position].name] == position else { continue }
                for dependent in dependents[position] where waiting[dependent] != .max {
                    waiting[dependent] -= 1
                    if waiting[dependent] == 0 { next.append(dependent) }
                }
            }
            round = next.sorted()
        }
        for position in tasks.indices where !placed[position] { order.append(tasks[position]) }
        return order
    }
}
