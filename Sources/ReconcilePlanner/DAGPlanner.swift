import Foundation
import ReconcileModel

/// One run of a DAG as the step sees it: its attempts (following what their containers did), in order.
public struct DAGRun: Sendable, Hashable {
    public var runID: String
    public var logicalDate: Date
    public var createdAt: Date
    /// Attempts not cleared by a rerun.
    public var attempts: [TaskAttempt]
    /// Per task, tries made before a rerun cleared them.
    public var priorTries: [String: Int]

    public init(
        runID: String, logicalDate: Date, createdAt: Date, attempts: [TaskAttempt], priorTries: [String: Int] = [:]
    ) {
        self.runID = runID
        self.logicalDate = logicalDate
        self.createdAt = createdAt
        self.attempts = attempts
        self.priorTries = priorTries
    }
}

/// One DAG's part of a step: its spec, where scheduling stopped looking, and its running runs.
public struct DAGStepInput: Sendable, Hashable {
    public var dag: DAGSpec
    public var cursor: Date?
    public var running: [DAGRun]

    public init(dag: DAGSpec, cursor: Date?, running: [DAGRun]) {
        self.dag = dag
        self.cursor = cursor
        self.running = running
    }
}

/// What the runtime carries out after a step, in this order: record the schedules (new runs and the
/// cursor), stop the kills, record the starts and then start them, finish the runs, store the waiting
/// reasons. Every decision is here; the runtime only persists and starts.
public struct DAGActions: Sendable, Hashable {
    public struct Schedule: Sendable, Hashable {
        public var dag: String
        public var runs: [ScheduledRun]
        public var cursor: Date
        public var alert: String?
    }

    public struct Start: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var task: String
        public var tryNumber: Int
        public var containerName: String
        public var node: String
        public var placement: NodeLedger.Placement
    }

    public struct Kill: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var task: String
        public var tryNumber: Int
        /// The task's timeout, for the attempt's error.
        public var timeout: Timespan
    }

    public struct Finish: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var succeeded: Bool
        /// Which task(s) caused a failure, for the alert.
        public var failure: String?
    }

    public struct Waiting: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var task: String
        public var reason: WaitingReason
    }

    /// Schedules to persist: a DAG seen for the first time, or ticks taken or dropped.
    public var schedules: [Schedule] = []
    public var kills: [Kill] = []
    public var starts: [Start] = []
    public var finishes: [Finish] = []
    /// Every task of a running run that is not running and not finished, with the one reason.
    public var waiting: [Waiting] = []
    /// Some run is still under way (running, waiting or queued).
    public var active = false
    /// When the step must run again although nothing was announced (a retry is due, a timeout
    /// expires, a cron tick comes): the runtime sleeps until then or until a task exits.
    public var requeueAt: Date?

    mutating func requeue(at date: Date) { requeueAt = min(requeueAt ?? date, date) }
}

/// The DAG step (pure): scheduling (RunScheduler), the runs' turns (`maxActiveRuns`), each run's task
/// decisions (TaskPlanner), and placement on the node ledger, in one place. Runs are taken oldest
/// first, DAGs in the order given; the ledger is shared, so what one start books the next one sees.
public enum DAGPlanner {
    public static func step(_ inputs: [DAGStepInput], ledger: NodeLedger, now: Date) -> DAGActions {
        var ledger = ledger
        var actions = DAGActions()
        for input in inputs { step(input, ledger: &ledger, now: now, into: &actions) }
        return actions
    }

    private static func step(_ input: DAGStepInput, ledger: inout NodeLedger, now: Date, into actions: inout DAGActions)
    {
        let dag = input.dag
        let schedule = RunScheduler.schedule(
            dag: dag, cursor: input.cursor, activeRuns: input.running.count, now: now)
        // The cursor is written only when it matters: a first sight, or ticks taken or dropped. With
        // nothing due, the stored cursor finds the same ticks next step.
        if input.cursor == nil || !schedule.runs.isEmpty || schedule.dropped > 0 {
            actions.schedules.append(
                DAGActions.Schedule(dag: dag.name, runs: schedule.runs, cursor: schedule.cursor, alert: schedule.alert))
        }
        if !dag.paused, let next = schedule.nextTick { actions.requeue(at: next) }
        var runs = input.running
        for scheduled in schedule.runs where !runs.contains(where: { $0.runID == scheduled.runID }) {
            runs.append(
                DAGRun(runID: scheduled.runID, logicalDate: scheduled.logicalDate, createdAt: now, attempts: []))
        }
        runs.sort { ($0.logicalDate, $0.createdAt, $0.runID) < ($1.logicalDate, $1.createdAt, $1.runID) }
        var underWay = runs.filter { !$0.attempts.isEmpty }.count
        let tasks = Dictionary(dag.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for run in runs {
            if run.attempts.isEmpty {
                guard underWay < dag.maxActiveRuns else {
                    actions.active = true
                    for task in dag.tasks {
                        actions.waiting.append(
                            .init(
                                dag: dag.name, runID: run.runID, task: task.name,
                                reason: .maxActiveRuns(dag.maxActiveRuns)))
                    }
                    continue
                }
                underWay += 1
            }
            let decision = TaskPlanner.decide(
                dag: dag, runID: run.runID, attempts: run.attempts, now: now, priorTries: run.priorTries)
            for kill in decision.kills {
                actions.kills.append(
                    .init(
                        dag: dag.name, runID: run.runID, task: kill.task, tryNumber: kill.tryNumber,
                        timeout: tasks[kill.task]?.timeout ?? .zero))
            }
            // Timeouts of running attempts come due without any notice.
            let latest = Dictionary(grouping: run.attempts, by: \.task).compactMapValues {
                $0.max { $0.tryNumber < $1.tryNumber }
            }
            for (name, attempt) in latest where attempt.outcome == .running {
                if let timeout = tasks[name]?.timeout, !decision.kills.contains(where: { $0.task == name }) {
                    actions.requeue(at: attempt.startedAt.addingTimeInterval(timeout.seconds))
                }
            }
            let starting = Set(decision.starts.map(\.task))
            // A run's volumes live on the node of its first task that mounted one: the rest follow.
            var volumeNode = run.attempts.first { attempt in
                attempt.node != nil && tasks[attempt.task]?.mountsRunVolume == true
            }?.node
            for start in decision.starts {
                guard let task = tasks[start.task] else { continue }
                var demand = NodeLedger.Demand.task(task)
                if task.mountsRunVolume, let node = volumeNode {
                    let name = task.volumes.lazy.compactMap { if case .run(let name) = $0.source { name } else { nil } }
                    demand.requirement.volume = .init(volume: "\(name.first ?? "") of this run", node: node)
                }
                switch ledger.place(demand) {
                case .success(let placement):
                    if task.mountsRunVolume { volumeNode = volumeNode ?? placement.node }
                    actions.starts.append(
                        .init(
                            dag: dag.name, runID: run.runID, task: task.name, tryNumber: start.tryNumber,
                            containerName: start.containerName, node: placement.node, placement: placement))
                case .failure(let unfit):
                    actions.waiting.append(
                        .init(
                            dag: dag.name, runID: run.runID, task: task.name,
                            reason: .room(unfit.reason, rejected: unfit.rejected)))
                }
            }
            for task in dag.tasks where !starting.contains(task.name) {
                switch decision.states[task.name] {
                case .waiting:
                    let pending = task.after.filter { !(decision.states[$0]?.isTerminal ?? false) }
                    actions.waiting.append(
                        .init(
                            dag: dag.name, runID: run.runID, task: task.name,
                            reason: .upstream(Array(pending.prefix(5)), more: max(0, pending.count - 5))))
                case .retrying(let retryAt):
                    let tries = latest[task.name]?.tryNumber ?? 0
                    actions.waiting.append(
                        .init(
                            dag: dag.name, runID: run.runID, task: task.name,
                            reason: .retry(at: retryAt, tryNumber: tries + 1)))
                    actions.requeue(at: retryAt)
                default:
                    break
                }
            }
            if decision.runState == .running {
                actions.active = true
            } else {
                actions.finishes.append(
                    .init(
                        dag: dag.name, runID: run.runID, succeeded: decision.runState == .succeeded,
                        failure: decision.failure))
            }
        }
    }
}
