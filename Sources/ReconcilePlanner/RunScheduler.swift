import Foundation
import ReconcileModel

/// A scheduled run the planner asks for: a cron tick of a DAG that is due.
public struct ScheduledRun: Sendable, Hashable {
    public var dag: String
    /// Deterministic (`scheduled__<tick in RFC 3339 UTC>`), so recording it twice is recording it once.
    public var runID: String
    /// The tick.
    public var logicalDate: Date
    /// The data interval the run covers: from the schedule's previous tick to the tick (Airflow's
    /// rule), whenever the controller started and wherever the scheduling cursor stood.
    public var dataIntervalStart: Date
    public var dataIntervalEnd: Date
}

/// What scheduling decided for one DAG in one pass.
public struct RunSchedule: Sendable, Hashable {
    /// Runs to create now, oldest first.
    public var runs: [ScheduledRun]
    /// Where the next pass starts looking for ticks (persist it with the runs).
    public var cursor: Date
    /// Missed ticks that will never run (catchup rules), and why, for an alert.
    public var dropped: Int
    public var alert: String?
    /// Due ticks held back by `maxActiveRuns` (they stay due).
    public var waiting: Int
    /// The next tick after the cursor, for `dags list` and the plan.
    public var nextTick: Date?
}

/// Run scheduling (pure): which cron ticks of a DAG become runs, given where the previous pass
/// stopped looking (`cursor`), the runs still active, and `now`.
///
/// - A DAG seen for the first time starts looking at `start` when given, else at `now` (no runs
///   for the past).
/// - Paused: nothing is created and the cursor stays, so unpausing applies the catchup rules.
/// - `catchup: false`: after downtime only the latest missed tick runs.
/// - `catchup: N`: the latest N missed ticks run, oldest first; more missed raise an alert.
/// - `maxActiveRuns` counts every active run (manual triggers too); ticks beyond it stay due.
public enum RunScheduler {
    /// At most this many ticks are walked per pass when catching up (a minutely DAG down for a year).
    static let walkLimit = 1_000_000

    public static func schedule(dag: DAGSpec, cursor: Date?, activeRuns: Int, now: Date) -> RunSchedule {
        let zone = TimeZone(identifier: dag.timezone) ?? TimeZone(identifier: "UTC")!
        let start = dag.start.map { Date(timeIntervalSince1970: $0) }
        // Looking starts just before `start`, so a tick exactly at `start` runs.
        let from = cursor ?? start.map { $0.addingTimeInterval(-1) } ?? now
        guard let schedule = dag.schedule else {
            return RunSchedule(runs: [], cursor: from, dropped: 0, waiting: 0, nextTick: nil)
        }
        let notBefore = start.map { $0.addingTimeInterval(-1) } ?? .distantPast
        let nextTick = schedule.nextFireTime(after: max(from, now, notBefore), in: zone)
        if dag.paused {
            return RunSchedule(runs: [], cursor: from, dropped: 0, waiting: 0, nextTick: nextTick)
        }
        // The due ticks in (from, now]: keep the newest `keep`, count them all.
        let keep: Int =
            switch dag.catchup {
            case .latestOnly: 1
            case .missed(let limit): limit ?? walkLimit
            }
        var newest: [Date] = []
        var total = 0
        var previousOfKept: [Date: Date] = [:]
        // The tick before the first one walked is looked up once; after it, each tick's previous
        // tick is the one walked before it. The cursor is a pass time, never an interval bound.
        var last: Date?
        var walk = Int64(from.timeIntervalSince1970.rounded(.down))
        while total < walkLimit,
            let tick = schedule.nextFireTime(after: Date(timeIntervalSince1970: Double(walk)), in: zone),
            tick <= now
        {
            if let start, tick < start {
                walk = Int64(tick.timeIntervalSince1970)
                last = tick
                continue
            }
            total += 1
            previousOfKept[tick] = last ?? Self.previousTick(of: schedule, before: tick, in: zone) ?? from
            newest.append(tick)
            if newest.count > keep { previousOfKept[newest.removeFirst()] = nil }
            last = tick
            walk = Int64(tick.timeIntervalSince1970)
        }
        let dropped = total - newest.count
        var alert: String?
        if dropped > 0, case .missed(let limit?) = dag.catchup {
            alert =
                "dag \(dag.name): \(total) ticks were missed; catchup \(limit) runs the latest \(limit), "
                + "\(dropped) will not run (backfill them with `reconcile dags backfill`)"
        }
        let room = max(0, dag.maxActiveRuns - activeRuns)
        let created = Array(newest.prefix(room))
        let runs = created.map { tick in
            ScheduledRun(
                dag: dag.name, runID: "scheduled__" + Self.rfc3339(tick), logicalDate: tick,
                dataIntervalStart: previousOfKept[tick] ?? from, dataIntervalEnd: tick)
        }
        // Everything due was created or dropped: look from now on. Otherwise from the last created
        // tick (or where we were), so the held-back ticks stay due.
        let waiting = newest.count - created.count
        let newCursor: Date
        if waiting == 0 {
            newCursor = now
        } else if let lastCreated = created.last {
            newCursor = lastCreated
        } else {
            // Nothing could start: the dropped ticks stay dropped, the kept ones stay due.
            newCursor = newest.first.flatMap { previousOfKept[$0] } ?? from
        }
        return RunSchedule(
            runs: runs, cursor: newCursor, dropped: dropped, alert: alert, waiting: waiting,
            nextTick: schedule.nextFireTime(after: max(newCursor, now, notBefore), in: zone))
    }

    static func rfc3339(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
    }
}

extension RunScheduler {
    /// The runs a backfill of the DAG over `from...to` creates: one per tick (`backfill__<tick>`),
    /// oldest first, each covering the data interval from the tick before it. Empty for a DAG
    /// without a schedule; at most `limit` (nil when there would be more).
    public static func backfill(dag: DAGSpec, from: Date, to: Date, limit: Int = 10_000) -> [ScheduledRun]? {
        guard let schedule = dag.schedule else { return [] }
        let zone = TimeZone(identifier: dag.timezone) ?? TimeZone(identifier: "UTC")!
        var runs: [ScheduledRun] = []
        var after = from.addingTimeInterval(-1)
        while let tick = schedule.nextFireTime(after: after, in: zone), tick <= to {
            guard runs.count < limit else { return nil }
            let previous = runs.last?.logicalDate ?? previousTick(of: schedule, before: tick, in: zone) ?? from
            runs.append(
                ScheduledRun(
                    dag: dag.name, runID: "backfill__" + rfc3339(tick), logicalDate: tick, dataIntervalStart: previous,
                    dataIntervalEnd: tick))
            after = tick
        }
        return runs
    }

    /// The last tick before `tick`, looked for in growing windows (an hour up to ten years).
    static func previousTick(of schedule: CronSchedule, before tick: Date, in zone: TimeZone) -> Date? {
        for days in [1.0 / 24, 1, 7, 32, 366, 3_660] {
            let window = days * 86_400
            var last: Date?
            var after = tick.addingTimeInterval(-window)
            while let next = schedule.nextFireTime(after: after, in: zone), next < tick {
                last = next
                after = next
            }
            if let last { return last }
        }
        return nil
    }
}
