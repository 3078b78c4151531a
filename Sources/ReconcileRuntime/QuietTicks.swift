import Foundation
import ReconcileModel

/// Idle cost: while the cluster is quiet the controller skips its tick's pass and DAG step, so an
/// idle controller neither lists every node nor plans every App every two seconds.
///
/// Quiet means the last pass found nothing to do (no action, no App changing or unplaceable, no
/// failure), every node reachable and every replica ready, and no DAG run active. It lasts until
/// something can have changed: a task or replica exited (every node pushes its exits: process
/// shims, Docker event streams — a node without live notices ends it), a new commit or node set, a
/// change through the API or the UI (`Controller.requestPass`), another process writing the store
/// (the CLI's `dags trigger`, `runs cancel`), the DAG step's next due time (a cron tick, a retry),
/// or at the latest `span` after the pass, bounded by the shortest App health-check interval so
/// readiness is probed as often as before.
struct QuietTicks {
    struct Since {
        var commit: String
        var nodes: [NodeSpec]
        var mark: DAGRunner.ChangeMark
        var storeVersion: Int
        var until: Date
    }

    private(set) var since: Since?
    /// The last DAG step's outcome: runs active, and when it asked to run again.
    private(set) var dagsActive = true
    private(set) var dagDue = Date.distantPast

    /// True when a pass found the cluster as desired and settled.
    static func isQuiet(_ result: Pass.Result) -> Bool {
        result.plan.actions.isEmpty && result.plan.changes.isEmpty && result.failures.isEmpty
            && result.observed.nodes.allSatisfy { $0.unreachableSince == nil }
            && result.observed.containers.allSatisfy { $0.readySince != nil }
    }

    /// How long a quiet spell may last before a pass runs anyway.
    static func span(_ state: DesiredState, cap: Timespan) -> TimeInterval {
        state.apps.compactMap { $0.health?.interval.seconds }.reduce(cap.seconds, min)
    }

    /// After a pass: quiet from now on when it found the cluster settled and exits are pushed.
    mutating func passed(
        _ result: Pass.Result, state: DesiredState, commit: String, nodes: [NodeSpec], mark: DAGRunner.ChangeMark?,
        storeVersion: Int?, cap: Timespan, now: Date
    ) {
        guard Self.isQuiet(result), let mark, mark.pushed, let storeVersion else {
            since = nil
            return
        }
        since = Since(
            commit: commit, nodes: nodes, mark: mark, storeVersion: storeVersion,
            until: now.addingTimeInterval(Self.span(state, cap: cap)))
    }

    mutating func reset() { since = nil }

    /// True while nothing can have changed since the quiet pass: the tick skips its pass.
    func holds(commit: String, nodes: [NodeSpec], mark: DAGRunner.ChangeMark?, storeVersion: Int?, now: Date) -> Bool {
        guard let since, !dagsActive, now < since.until, since.commit == commit, since.nodes == nodes,
            since.storeVersion == storeVersion, let mark, mark.unchanged(since: since.mark)
        else { return false }
        return true
    }

    /// True when a quiet tick may skip the DAG step too (no run active, nothing due yet).
    func skipsDAGStep(now: Date) -> Bool { !dagsActive && now < dagDue }

    mutating func dagStepRan(active: Bool, requeueAt: Date?) {
        dagsActive = active
        dagDue = requeueAt ?? .distantFuture
    }
}
