import Foundation
import ReconcileModel

/// What a DAG that runs after others (`schedule: {after: [...]}`) is started from: the succeeded runs
/// of those DAGs that may complete a data interval, and which of its own runs already exist.
public struct UpstreamRuns: Sendable, Hashable {
    public struct Run: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var dataIntervalStart: Date
        public var dataIntervalEnd: Date
        public var finishedAt: Date

        public init(dag: String, runID: String, dataIntervalStart: Date, dataIntervalEnd: Date, finishedAt: Date) {
            self.dag = dag
            self.runID = runID
            self.dataIntervalStart = dataIntervalStart
            self.dataIntervalEnd = dataIntervalEnd
            self.finishedAt = finishedAt
        }
    }

    /// Succeeded upstream runs finished since the cursor, and the others for those same intervals.
    public var succeeded: [Run]
    /// This DAG's runs among the ids those intervals would create.
    public var existing: Set<String>

    public init(succeeded: [Run], existing: Set<String>) {
        self.succeeded = succeeded
        self.existing = existing
    }
}

extension RunScheduler {
    /// `after__<interval end>`: one run per data interval, whoever asks twice.
    public static func afterRunID(intervalEnd: Date) -> String { "after__" + rfc3339(intervalEnd) }

    /// The intervals complete in `upstream`: every DAG of `dag.after` has a succeeded run for exactly
    /// that data interval. Each with when it became complete (the latest of those runs' first success).
    public static func completeIntervals(
        dag: DAGSpec, upstream: [UpstreamRuns.Run]
    ) -> [(start: Date, end: Date, completedAt: Date)] {
        struct Interval: Hashable {
            var start: Date
            var end: Date
        }
        var firstSuccess: [Interval: [String: Date]] = [:]
        for run in upstream where dag.after.contains(run.dag) {
            let key = Interval(start: run.dataIntervalStart, end: run.dataIntervalEnd)
            firstSuccess[key, default: [:]][run.dag] = min(
                firstSuccess[key]?[run.dag] ?? run.finishedAt, run.finishedAt)
        }
        return firstSuccess.compactMap { interval, byDAG in
            guard dag.after.allSatisfy({ byDAG[$0] != nil }), let completed = byDAG.values.max() else { return nil }
            return (interval.start, interval.end, completed)
        }.sorted { ($0.end, $0.start) < ($1.end, $1.start) }
    }

    /// Runs of an `after:` DAG (pure): one for each data interval that became complete since the
    /// cursor (see `completeIntervals`), carrying that interval, its end as the logical date. First
    /// sight looks from now on (history starts nothing). Paused: nothing, the cursor stays; then the
    /// catchup rule applies as for cron ticks (the latest interval only, or the latest N).
    public static func afterRuns(dag: DAGSpec, cursor: Date?, upstream: UpstreamRuns, now: Date) -> RunSchedule {
        guard let cursor else { return RunSchedule(runs: [], cursor: now, dropped: 0, waiting: 0, nextTick: nil) }
        if dag.paused { return RunSchedule(runs: [], cursor: cursor, dropped: 0, waiting: 0, nextTick: nil) }
        let due = completeIntervals(dag: dag, upstream: upstream.succeeded).filter {
            $0.completedAt >= cursor && !upstream.existing.contains(afterRunID(intervalEnd: $0.end))
        }
        let keep: Int =
            switch dag.catchup {
            case .latestOnly: 1
            case .missed(let limit): limit ?? Int.max
            }
        let kept = due.suffix(keep)
        let runs = kept.map { interval in
            ScheduledRun(
                dag: dag.name, runID: afterRunID(intervalEnd: interval.end), logicalDate: interval.end,
                dataIntervalStart: interval.start, dataIntervalEnd: interval.end)
        }
        let newest = upstream.succeeded.map(\.finishedAt).filter { $0 >= cursor }.max()
        let dropped = due.count - kept.count
        var alert: String?
        if dropped > 0, case .missed(let limit?) = dag.catchup {
            alert =
                "dag \(dag.name): \(due.count) upstream intervals completed; catchup \(limit) runs the latest \(limit), "
                + "\(dropped) will not run (backfill them with `reconcile dags trigger`)"
        }
        return RunSchedule(
            runs: runs, cursor: newest.map { $0.addingTimeInterval(0.001) } ?? cursor, dropped: dropped, alert: alert,
            waiting: 0, nextTick: nil)
    }
}
