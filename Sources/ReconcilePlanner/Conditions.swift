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
        invalidCommit: InvalidCommit? = nil
    ) {
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

    /// A check settles for `failAfter` intervals: as long as it takes to turn failing again.
    public static func checkSettle(_ check: CheckSpec) -> Timespan {
        Timespan(milliseconds: check.interval.milliseconds * Int64(max(1, check.failAfter)))
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
                    notifiers: check.alerts, settle: checkSettle(check)))
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
}
