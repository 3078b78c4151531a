import Foundation
import ReconcileModel

/// What the runtime read for the conditions: plain values from the store and the last observation.
public struct ConditionFacts: Sendable, Hashable {
    /// A DAG's newest finished run.
    public struct FinishedRun: Sendable, Hashable {
        public var runID: String
        public var failed: Bool
        /// Which task(s) caused a failure (the run's stored failure).
        public var failure: String?

        public init(runID: String, failed: Bool, failure: String? = nil) {
            self.runID = runID
            self.failed = failed
            self.failure = failure
        }
    }

    public var checks: [String: CheckState]
    /// Per DAG, its newest finished run (none yet: absent).
    public var lastFinishedRuns: [String: FinishedRun]
    /// App -> the spec hash whose rollout failed.
    public var failedRollouts: [String: String]
    /// Declared nodes (the implicit local node when none is declared).
    public var nodes: [String]
    /// Nodes that do not answer, and since when.
    public var unreachable: [String: Date]
    /// The newest commit when it is invalid: its id and first errors.
    public var invalidCommit: InvalidCommit?
    /// Apps whose image pulls failed several times in a row, with the last failure (registry, node).
    public var pullFailures: [String: String] = [:]
    /// What the last pass saw of each App (none yet: its App conditions pass).
    public var apps: [String: AppFacts] = [:]
    /// Per DAG with a `deadline:`, its latest scheduled run whose deadline passed, when it has not
    /// succeeded.
    public var missedDeadlines: [String: MissedDeadline] = [:]
    /// Per DAG, its task that has waited longest for room on the nodes.
    public var queued: [String: QueuedTask] = [:]
    /// When the facts were read.
    public var now = Date.distantPast

    public struct MissedDeadline: Sendable, Hashable {
        public var logicalDate: Date
        public var due: Date
        /// The run's id, nil when no run was created for the tick.
        public var runID: String?
        /// `running`, `queued`, `failed` or `missing`.
        public var state: String

        public init(logicalDate: Date, due: Date, runID: String?, state: String) {
            self.logicalDate = logicalDate
            self.due = due
            self.runID = runID
            self.state = state
        }
    }

    public struct QueuedTask: Sendable, Hashable {
        public var runID: String
        public var task: String
        public var since: Date
        /// The ledger's reason.
        public var reason: String

        public init(runID: String, task: String, since: Date, reason: String) {
            self.runID = runID
            self.task = task
            self.since = since
            self.reason = reason
        }
    }

    public struct InvalidCommit: Sendable, Hashable {
        public var commit: String
        public var errors: [String]

        public init(commit: String, errors: [String]) {
            self.commit = commit
            self.errors = errors
        }
    }

    public init(
        checks: [String: CheckState] = [:], lastFinishedRuns: [String: FinishedRun] = [:],
        failedRollouts: [String: String] = [:], nodes: [String] = [], unreachable: [String: Date] = [:],
        invalidCommit: InvalidCommit? = nil, apps: [String: AppFacts] = [:]
    ) {
        self.apps = apps
        self.checks = checks
        self.lastFinishedRuns = lastFinishedRuns
        self.failedRollouts = failedRollouts
        self.nodes = nodes
        self.unreachable = unreachable
        self.invalidCommit = invalidCommit
    }
}

/// Every monitored thing as a condition (pure), beside the incident machine that turns them into
/// incidents. Every condition has a settle time: how long it must pass before its incident resolves,
/// so a thing that flaps (fails, passes, fails again within it) is one incident, not a storm.
public enum Conditions {
    /// A DAG whose runs alternate between failing and succeeding within this is one incident.
    public static let dagSettle = Timespan.minutes(10)
    /// A rolled-back rollout fixed by a commit and broken again within this is one incident.
    public static let rolloutSettle = Timespan.minutes(5)
    /// An invalid commit fixed and broken again within this is one incident.
    public static let commitSettle = Timespan.minutes(2)
    /// An App whose pulls fail, succeed and fail again within this is one incident.
    public static let pullSettle = Timespan.minutes(5)
    /// A node that answers again and drops again within this is one incident.
    public static let nodeSettle = Timespan.minutes(1)
    /// A slot that crashes again within this of running fine is the same crash loop (a replica
    /// still up after it has run as long as the loop's first backoffs).
    public static let crashLoopSettle = Timespan.minutes(1)
    /// An App back at its ready count, or placed, that drops again within this is one incident.
    public static let appSettle = Timespan.minutes(2)
    /// A late run that succeeded resolves its incident after this (longer than the 2 s between
    /// evaluations; a deadline is judged per run, so there is no flapping to absorb beyond it).
    public static let deadlineSettle = Timespan.seconds(30)
    /// Tasks that get room and wait again within this are one incident.
    public static let queuedSettle = Timespan.minutes(5)

    /// A check settles for `failAfter` intervals: as long as it takes to turn failing again.
    public static func checkSettle(_ check: CheckSpec) -> Timespan {
        Timespan(milliseconds: check.interval.milliseconds * Int64(max(1, check.failAfter)))
    }

    /// A failing check's severity: its `severity:` when set, else what its last result said
    /// (a Nagios WARNING), else critical.
    public static func checkSeverity(_ check: CheckSpec, _ state: CheckState) -> Severity {
        check.severity ?? state.severity ?? .critical
    }

    /// Conditions of everything in `state` (a thing missing here is gone from git and its incident
    /// resolves with that reason).
    public static func from(state: DesiredState, facts: ConditionFacts) -> [Condition] {
        let everyone = state.notifiers.map(\.name)
        var conditions: [Condition] = []
        for check in state.checks {
            let result = facts.checks[check.name] ?? CheckState()
            conditions.append(
                Condition(
                    key: ConditionKey.check(check.name).description, failing: result.failing,
                    summary: "check \(check.name) \(result.failing ? "is failing" : "passes"): \(result.message)",
                    notifiers: check.alerts, settle: checkSettle(check), severity: checkSeverity(check, result)))
        }
        for dag in state.dags {
            let last = facts.lastFinishedRuns[dag.name]
            let failed = last?.failed == true
            let summary: String =
                if let last, failed {
                    last.failure ?? "dag \(dag.name) run \(last.runID) failed"
                } else {
                    "dag \(dag.name): the latest run \(last.map { "\($0.runID) succeeded" } ?? "has not finished")"
                }
            conditions.append(
                Condition(
                    key: ConditionKey.dag(dag.name).description, failing: failed, summary: summary,
                    notifiers: dag.alerts, settle: dagSettle)
            )
            conditions += dagConditions(dag, facts: facts)
        }
        for app in state.apps {
            let rolledBack = facts.failedRollouts[app.name] == SpecHash.of(app)
            conditions.append(
                Condition(
                    key: ConditionKey.rollout(app.name).description, failing: rolledBack,
                    summary: rolledBack
                        ? "the rollout of app \(app.name) was rolled back: its new revision did not become ready"
                        : "app \(app.name) runs its current revision",
                    notifiers: app.alerts, settle: rolloutSettle))
            let pull = facts.pullFailures[app.name]
            conditions.append(
                Condition(
                    key: ConditionKey.pull(app.name).description, failing: pull != nil,
                    summary: pull.map { "app \(app.name) cannot pull its image: \($0)" }
                        ?? "app \(app.name) pulls its image", notifiers: app.alerts, settle: pullSettle))
            conditions += appConditions(app, facts: facts.apps[app.name])
        }
        for node in facts.nodes {
            let since = facts.unreachable[node]
            conditions.append(
                Condition(
                    key: ConditionKey.node(node).description, failing: since != nil,
                    summary: since.map {
                        "node \(node) is unreachable since \(ISO8601DateFormatter().string(from: $0))"
                    }
                        ?? "node \(node) answers",
                    notifiers: everyone, settle: nodeSettle))
        }
        let invalid = facts.invalidCommit
        conditions.append(
            Condition(
                key: ConditionKey.commit.description, failing: invalid != nil,
                summary: invalid.map {
                    "commit \($0.commit.prefix(12)) is invalid; the last valid one stays in force:\n"
                        + $0.errors.prefix(10).joined(separator: "\n")
                } ?? "the newest commit is valid", notifiers: everyone, settle: commitSettle))
        return conditions
    }

    /// `crashloop/APP` (a slot crashed `AppFacts.crashLoopRestarts` times in a row; the exit code
    /// and last output in the notice), `degraded/APP` (fewer ready replicas than wanted for
    /// `alertAfter`: a warning, critical when none is ready) and `unplaceable/APP` (replicas no node
    /// can take for `alertAfter`).
    static func appConditions(_ app: AppSpec, facts: AppFacts?) -> [Condition] {
        let loop = facts?.crashLoop
        var crash = "app \(app.name) does not crash-loop"
        if let loop {
            crash =
                "app \(app.name) is crash-looping: replica \(loop.slot) crashed \(loop.restarts) times in a row"
                + (loop.exitCode.map { ", last exit code \($0)" } ?? "")
                + (loop.outOfMemory
                    ? " (out of memory: killed for going over its memory limit of \(app.resources.memory))" : "")
            if !loop.lastOutput.isEmpty {
                crash += "; its last output:\n" + loop.lastOutput.map { "  \($0)" }.joined(separator: "\n")
            }
        }
        let ready = facts?.ready ?? app.replicas
        let short = facts != nil && ready < app.replicas
        let degraded =
            short
            ? "app \(app.name) is degraded: \(ready) of \(app.replicas) replicas ready"
                + (facts?.unplaceable.map { "; unplaceable: \($0)" } ?? "")
            : "app \(app.name) has its \(app.replicas) ready replicas"
        let unplaceable = facts?.unplaceable
        return [
            Condition(
                key: ConditionKey.crashloop(app.name).description, failing: loop != nil, summary: crash,
                notifiers: app.alerts, settle: crashLoopSettle),
            Condition(
                key: ConditionKey.degraded(app.name).description, failing: short, summary: degraded,
                notifiers: app.alerts, settle: appSettle, severity: ready == 0 ? .critical : .warning,
                fireAfter: app.alertAfter),
            Condition(
                key: ConditionKey.unplaceable(app.name).description, failing: unplaceable != nil,
                summary: unplaceable.map { "app \(app.name) cannot place \($0)" }
                    ?? "app \(app.name) has every replica placed",
                notifiers: app.alerts, settle: appSettle, fireAfter: app.alertAfter),
        ]
    }

    /// `deadline/DAG` (a scheduled run not succeeded by its deadline) and `queued/DAG` (a task that
    /// waited for room longer than `queuedAlertAfter`, a warning).
    static func dagConditions(_ dag: DAGSpec, facts: ConditionFacts) -> [Condition] {
        let time = ISO8601DateFormatter()
        var conditions: [Condition] = []
        if let deadline = dag.deadline {
            let missed = facts.missedDeadlines[dag.name]
            conditions.append(
                Condition(
                    key: ConditionKey.deadline(dag.name).description, failing: missed != nil,
                    summary: missed.map {
                        "dag \(dag.name): the run for \(time.string(from: $0.logicalDate)) "
                            + ($0.state == "missing" ? "was never started" : "is \($0.state)")
                            + " past its deadline \(time.string(from: $0.due)) (\(deadline) after its logical date)"
                    } ?? "dag \(dag.name): every run met its deadline",
                    notifiers: dag.alerts, settle: deadlineSettle))
        }
        let queued = facts.queued[dag.name].flatMap {
            facts.now.timeIntervalSince($0.since) >= dag.queuedAlertAfter.seconds ? $0 : nil
        }
        conditions.append(
            Condition(
                key: ConditionKey.queued(dag.name).description, failing: queued != nil,
                summary: queued.map {
                    "dag \(dag.name): task \($0.task) of run \($0.runID) has waited for room since "
                        + "\(time.string(from: $0.since)): \($0.reason)"
                } ?? "dag \(dag.name): no task waits long for room",
                notifiers: dag.alerts, settle: queuedSettle, severity: .warning))
        return conditions
    }
}
