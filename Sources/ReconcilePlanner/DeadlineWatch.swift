import Foundation
import ReconcileModel

/// A DAG's `deadline:` (pure): its newest scheduled tick whose deadline has passed, and whether
/// the run for that tick succeeded in time — Airflow's SLA miss, judged on the latest tick only (an
/// older late run that never succeeded is the same incident until a newer one succeeds).
public enum DeadlineWatch {
    /// The newest tick `t` of the DAG's schedule with `t + deadline <= now` and `t >= earliest`
    /// (the DAG's `start` or when it was first seen: no deadline for ticks before it existed).
    public static func latestDueTick(_ dag: DAGSpec, earliest: Date, now: Date) -> Date? {
        guard let deadline = dag.deadline, let schedule = dag.schedule, !dag.paused else { return nil }
        let zone = TimeZone(identifier: dag.timezone) ?? TimeZone(identifier: "UTC")!
        let upper = now.addingTimeInterval(-deadline.seconds)
        let floor = max(earliest, dag.start.map { Date(timeIntervalSince1970: $0) } ?? .distantPast)
        return schedule.latestFireTime(atOrBefore: upper, notBefore: floor, in: zone)
    }

    /// The run for a tick as the store has it: its id and `running`, `succeeded` or `failed`.
    public struct TickRun: Sendable, Hashable {
        public var runID: String
        public var state: String

        public init(runID: String, state: String) {
            self.runID = runID
            self.state = state
        }
    }

    /// The missed deadline, if the latest due tick's run has not succeeded.
    public static func missed(
        _ dag: DAGSpec, tick: Date?, run: TickRun?
    ) -> ConditionFacts.MissedDeadline? {
        guard let tick, let deadline = dag.deadline, run?.state != "succeeded" else { return nil }
        return ConditionFacts.MissedDeadline(
            logicalDate: tick, due: tick.addingTimeInterval(deadline.seconds), runID: run?.runID,
            state: run?.state ?? "missing")
    }
}
