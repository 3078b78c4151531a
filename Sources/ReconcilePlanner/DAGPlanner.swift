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
    /// Someone asked to cancel it: its running attempts are stopped and it ends `cancelled`.
    public var cancelRequested: Bool

    public init(
        runID: String, logicalDate: Date, createdAt: Date, attempts: [TaskAttempt], priorTries: [String: Int] = [:],
        cancelRequested: Bool = false
    ) {
        self.cancelRequested = cancelRequested
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
    /// For a DAG that runs after others (`schedule: {after}`): their succeeded runs that may
    /// complete an interval, and which of its own runs for those intervals exist.
    public var upstream: UpstreamRuns?

    public init(dag: DAGSpec, cursor: Date?, running: [DAGRun], upstream: UpstreamRuns? = nil) {
        self.dag = dag
        self.cursor = cursor
        self.running = running
        self.upstream = upstream
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
        /// Empty for a sensor: it waits on no node.
        public var node: String
        /// Nil for a sensor (it books nothing on the ledger).
        public var placement: NodeLedger.Placement?
    }

    /// A run someone cancelled: its running attempts to stop (then it finishes `cancelled`).
    public struct Cancel: Sendable, Hashable {
        public var dag: String
        public var runID: String
        /// Tasks with a try under way, and that try.
        public var running: [String: Int]
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
        /// Ended by a cancel (not succeeded, and no incident).
        public var cancelled = false
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
    public var cancels: [Cancel] = []
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

/// The DAG step (pure): scheduling (RunScheduler, cron or after other DAGs), the runs' turns
/// (`maxActiveRuns`), cancels, each run's task decisions (TaskPlanner), then the starts of every DAG
/// taken oldest run first (by logical date) through the Pools' slots and the node ledger. The ledger
/// and the pools are shared, so what one start books the next one sees. Sensors book nothing.
public enum DAGPlanner {
    public static func step(
        _ inputs: [DAGStepInput], ledger: NodeLedger, now: Date, pools: [PoolSpec] = []
    ) -> DAGActions {
        var ledger = ledger
        var actions = DAGActions()
        var candidates: [Candidate] = []
        for input in inputs { step(input, now: now, into: &actions, candidates: &candidates) }
        // Slots in use: every running try of a task that takes a pool, in every DAG.
        var inUse: [String: Int] = [:]
        for input in inputs {
            let pooled = Dictionary(
                input.dag.tasks.compactMap { task in task.pool.map { (task.name, $0) } },
                uniquingKeysWith: { a, _ in a })
            guard !pooled.isEmpty else { continue }
            for run in input.running where !run.cancelRequested {
                for (task, attempt) in run.latestAttempts where attempt.outcome == .running {
                    if let pool = pooled[task] { inUse[pool, default: 0] += 1 }
                }
            }
        }
        let slots = Dictionary(pools.map { ($0.name, $0.slots) }, uniquingKeysWith: { a, _ in a })
        candidates.sort {
            ($0.logicalDate, $0.createdAt, $0.dag, $0.runID) < ($1.logicalDate, $1.createdAt, $1.dag, $1.runID)
        }
        var volumeNodes: [String: String] = [:]
        for candidate in candidates {
            let task = candidate.task
            let runKey = candidate.dag + "\u{0}" + candidate.runID
            if task.sensor != nil {
                actions.starts.append(
                    .init(
                        dag: candidate.dag, runID: candidate.runID, task: task.name,
                        tryNumber: candidate.start.tryNumber,
                        containerName: candidate.start.containerName, node: "", placement: nil))
                continue
            }
            if let pool = task.pool {
                let limit = slots[pool] ?? 0
                let used = inUse[pool, default: 0]
                guard used < limit else {
                    actions.waiting.append(
                        .init(
                            dag: candidate.dag, runID: candidate.runID, task: task.name,
                            reason: .pool(pool, inUse: used, slots: limit)))
                    continue
                }
            }
            var demand = NodeLedger.Demand.task(task)
            let volumeNode = volumeNodes[runKey] ?? candidate.volumeNode
            if task.mountsRunVolume, let node = volumeNode {
                let name = task.volumes.lazy.compactMap { if case .run(let name) = $0.source { name } else { nil } }
                demand.requirement.volume = .init(volume: "\(name.first ?? "") of this run", node: node)
            }
            switch ledger.place(demand) {
            case .success(let placement):
                if task.mountsRunVolume, volumeNode == nil { volumeNodes[runKey] = placement.node }
                if let pool = task.pool { inUse[pool, default: 0] += 1 }
                actions.starts.append(
                    .init(
                        dag: candidate.dag, runID: candidate.runID, task: task.name,
                        tryNumber: candidate.start.tryNumber,
                        containerName: candidate.start.containerName, node: placement.node, placement: placement))
            case .failure(let unfit):
                actions.waiting.append(
                    .init(
                        dag: candidate.dag, runID: candidate.runID, task: task.name,
                        reason: .room(unfit.reason, rejected: unfit.rejected)))
            }
        }
        return actions
    }

    /// A task the run's decision starts, before the pools and the ledger have their say.
    struct Candidate {
        var dag: String
        var runID: String
        var logicalDate: Date
        var createdAt: Date
        var task: TaskSpec
        var start: RunDecision.Start
        /// Where the run's volumes live (the node of its first task that mounted one), if known.
        var volumeNode: String?
    }

    private static func step(
        _ input: DAGStepInput, now: Date, into actions: inout DAGActions, candidates: inout [Candidate]
    ) {
        let dag = input.dag
        var schedule = RunScheduler.schedule(
            dag: dag, cursor: input.cursor, activeRuns: input.running.count, now: now)
        if let upstream = input.upstream, !dag.after.isEmpty {
            schedule = RunScheduler.afterRuns(dag: dag, cursor: input.cursor, upstream: upstream, now: now)
        }
        // The cursor is written only when it matters: a first sight, or ticks taken or dropped. With
        // nothing due, the stored cursor finds the same ticks next step.
        if input.cursor == nil || !schedule.runs.isEmpty || schedule.dropped > 0
            || (!dag.after.isEmpty && schedule.cursor != input.cursor)
        {
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
            if run.cancelRequested {
                let running = run.latestAttempts.filter { $0.value.outcome == .running }.mapValues(\.tryNumber)
                actions.cancels.append(.init(dag: dag.name, runID: run.runID, running: running))
                actions.finishes.append(
                    .init(dag: dag.name, runID: run.runID, succeeded: false, failure: nil, cancelled: true))
                continue
            }
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
            let latest = run.latestAttempts
            for (name, attempt) in latest where attempt.outcome == .running {
                if let timeout = tasks[name]?.timeout, !decision.kills.contains(where: { $0.task == name }) {
                    actions.requeue(at: attempt.startedAt.addingTimeInterval(timeout.seconds))
                }
            }
            let starting = Set(decision.starts.map(\.task))
            // A run's volumes live on the node of its first task that mounted one: the rest follow.
            let volumeNode = run.attempts.first { attempt in
                attempt.node != nil && tasks[attempt.task]?.mountsRunVolume == true
            }?.node
            for start in decision.starts {
                guard let task = tasks[start.task] else { continue }
                candidates.append(
                    Candidate(
                        dag: dag.name, runID: run.runID, logicalDate: run.logicalDate, createdAt: run.createdAt,
                        task: task, start: start, volumeNode: volumeNode))
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

extension DAGRun {
    /// Each task's latest try.
    var latestAttempts: [String: TaskAttempt] {
        Dictionary(grouping: attempts, by: \.task).compactMapValues { $0.max { $0.tryNumber < $1.tryNumber } }
    }
}
