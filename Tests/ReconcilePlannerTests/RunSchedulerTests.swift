import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileTesting
import Testing

/// Run scheduling with an injected clock: cron ticks in the DAG's zone become runs per `start`,
/// `catchup`, `maxActiveRuns` and `paused`.
@Suite struct RunSchedulerTests {
    func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    func times(_ runs: [ScheduledRun]) -> [String] {
        runs.map { ISO8601DateFormatter().string(from: $0.logicalDate) }
    }

    func dag(
        _ cron: String, zone: String = "UTC", start: String? = nil, catchup: DAGSpec.Catchup = .latestOnly,
        maxActive: Int = 1, paused: Bool = false
    ) throws -> DAGSpec {
        DAGSpec(
            name: "etl", schedule: try CronSchedule(parsing: cron), timezone: zone,
            start: start.map { at($0).timeIntervalSince1970 }, catchup: catchup, maxActiveRuns: maxActive,
            paused: paused, tasks: [TaskSpec(name: "a", command: ["true"])])
    }

    @Test func aNewDAGRunsNothingForThePastAndReportsItsNextTick() throws {
        let result = RunScheduler.schedule(
            dag: try dag("0 * * * *"), cursor: nil, activeRuns: 0, now: at("2026-11-27T10:30:00Z"))
        #expect(result.runs.isEmpty)
        #expect(result.cursor == at("2026-11-27T10:30:00Z"))
        #expect(result.nextTick == at("2026-11-27T11:00:00Z"))
    }

    @Test func aTickPassedSinceTheLastPassBecomesOneRun() throws {
        let result = RunScheduler.schedule(
            dag: try dag("0 * * * *"), cursor: at("2026-11-27T10:59:58Z"), activeRuns: 0,
            now: at("2026-11-27T11:00:01Z"))
        #expect(times(result.runs) == ["2026-11-27T11:00:00Z"])
        #expect(result.runs.first?.runID == "scheduled__2026-11-27T11:00:00Z")
        #expect(result.runs.first?.dataIntervalStart == at("2026-11-27T10:00:00Z"))
        #expect(result.runs.first?.dataIntervalEnd == at("2026-11-27T11:00:00Z"))
        #expect(result.cursor == at("2026-11-27T11:00:01Z"))
        #expect(result.nextTick == at("2026-11-27T12:00:00Z"))
    }

    struct Downtime: Sendable, CustomTestStringConvertible {
        var name: String
        var catchup: DAGSpec.Catchup
        var expected: [String]
        var dropped: Int
        var alerts: Bool
        var testDescription: String { name }
    }

    static let downtimes: [Downtime] = [
        Downtime(
            name: "catchup false: only the latest", catchup: .latestOnly, expected: ["2026-11-27T15:00:00Z"],
            dropped: 4, alerts: false),
        Downtime(
            name: "catchup 3: the latest three, oldest first, and an alert", catchup: .missed(limit: 3),
            expected: ["2026-11-27T13:00:00Z", "2026-11-27T14:00:00Z", "2026-11-27T15:00:00Z"], dropped: 2,
            alerts: true),
        Downtime(
            name: "catchup without limit: all five", catchup: .missed(limit: nil),
            expected: (11...15).map { "2026-11-27T\($0):00:00Z" }, dropped: 0, alerts: false),
        Downtime(
            name: "catchup 10 covers all five: no alert", catchup: .missed(limit: 10),
            expected: (11...15).map { "2026-11-27T\($0):00:00Z" }, dropped: 0, alerts: false),
    ]

    /// The controller was down from 10:30 to 15:30: the 11:00 ... 15:00 ticks were missed.
    @Test(arguments: downtimes) func downtime(_ item: Downtime) throws {
        let result = RunScheduler.schedule(
            dag: try dag("0 * * * *", catchup: item.catchup, maxActive: 16), cursor: at("2026-11-27T10:30:00Z"),
            activeRuns: 0, now: at("2026-11-27T15:30:00Z"))
        #expect(times(result.runs) == item.expected)
        #expect(result.dropped == item.dropped)
        #expect((result.alert != nil) == item.alerts, "\(String(describing: result.alert))")
        #expect(result.cursor == at("2026-11-27T15:30:00Z"))
        // Each run's data interval ends at its tick and starts at the tick before it, the first
        // run's too (not at the cursor, 10:30).
        for run in result.runs {
            #expect(run.dataIntervalEnd == run.logicalDate)
            #expect(run.dataIntervalEnd.timeIntervalSince(run.dataIntervalStart) == 3600)
        }
    }

    /// A controller running continuously, passing every 2.7 s from an arbitrary start (10:26:46.639,
    /// as seen in the field), and restarted twice (the cursor survives in the store; a restart after
    /// a long stop with `catchup: false` runs the latest tick only): every run's interval is exactly
    /// [previous tick, tick], never a pass time.
    @Test(arguments: ["* * * * *", "*/5 * * * *", "0 3 * * *"])
    func everyRunCoversExactlyThePreviousTickToItsTick(_ cron: String) async throws {
        let etl = try dag(cron, zone: "America/Vancouver", maxActive: 1_000)
        let zone = TimeZone(identifier: "America/Vancouver")!
        let schedule = try CronSchedule(parsing: cron)
        let started = at("2026-11-27T10:26:46Z").addingTimeInterval(0.639)
        // Three lives of the controller: 0-20 min, then down 7 h, then 2 days later for 1 h. Some
        // 2,000 passes: on a thread of their own (see `Blocking`).
        let runs = await Blocking.run {
            var runs: [ScheduledRun] = []
            var cursor: Date?
            let lives: [(from: TimeInterval, to: TimeInterval)] = [(0, 1_200), (26_400, 27_000), (200_000, 203_600)]
            for life in lives {
                var now = started.addingTimeInterval(life.from)
                while now < started.addingTimeInterval(life.to) {
                    let result = RunScheduler.schedule(dag: etl, cursor: cursor, activeRuns: 0, now: now)
                    runs += result.runs
                    cursor = result.cursor
                    now += 2.7
                }
            }
            return runs
        }
        #expect(!runs.isEmpty)
        #expect(Set(runs.map(\.runID)).count == runs.count, "a tick ran twice")
        for run in runs {
            let previous = try #require(schedule.nextFireTime(after: run.dataIntervalStart, in: zone))
            #expect(run.dataIntervalEnd == run.logicalDate)
            #expect(previous == run.logicalDate, "\(run.runID): interval starts at \(run.dataIntervalStart)")
            #expect(run.dataIntervalStart.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0)
        }
    }

    /// A daily DAG whose controller was restarted at 14:00: the next night's run covers the whole day
    /// [03:00, 03:00], not [14:00, 03:00] (eleven hours of data skipped by an interval-keyed ETL).
    @Test func aRestartDoesNotShortenTheNextInterval() throws {
        let nightly = try dag("0 3 * * *")
        let restarted = RunScheduler.schedule(
            dag: nightly, cursor: nil, activeRuns: 0, now: at("2026-11-27T14:00:00Z"))
        #expect(restarted.runs.isEmpty)
        let night = RunScheduler.schedule(
            dag: nightly, cursor: restarted.cursor, activeRuns: 0, now: at("2026-11-28T03:00:01Z"))
        #expect(night.runs.map(\.dataIntervalStart) == [at("2026-11-27T03:00:00Z")])
        #expect(night.runs.map(\.dataIntervalEnd) == [at("2026-11-28T03:00:00Z")])
        // The same after a downtime with catchup false: the latest tick's interval is one day long.
        let late = RunScheduler.schedule(
            dag: nightly, cursor: at("2026-11-20T14:00:00Z"), activeRuns: 0, now: at("2026-11-28T09:00:00Z"))
        #expect(late.runs.map(\.dataIntervalStart) == [at("2026-11-27T03:00:00Z")])
        // And for the first run after a start date: the tick before the start opens its interval.
        let fromStart = RunScheduler.schedule(
            dag: try dag("0 3 * * *", start: "2026-11-25T03:00:00Z", catchup: .missed(limit: nil), maxActive: 5),
            cursor: nil, activeRuns: 0, now: at("2026-11-26T12:00:00Z"))
        #expect(fromStart.runs.map(\.dataIntervalStart) == [at("2026-11-24T03:00:00Z"), at("2026-11-25T03:00:00Z")])
    }

    @Test func maxActiveRunsHoldsTicksBackUntilThereIsRoom() throws {
        let etl = try dag("0 * * * *", catchup: .missed(limit: nil), maxActive: 2)
        // One run (a manual trigger) is active: of five due ticks one more may start.
        let first = RunScheduler.schedule(
            dag: etl, cursor: at("2026-11-27T10:30:00Z"), activeRuns: 1, now: at("2026-11-27T15:30:00Z"))
        #expect(times(first.runs) == ["2026-11-27T11:00:00Z"])
        #expect(first.waiting == 4)
        #expect(first.cursor == at("2026-11-27T11:00:00Z"))
        // No room: nothing starts and the cursor stays.
        let full = RunScheduler.schedule(dag: etl, cursor: first.cursor, activeRuns: 2, now: at("2026-11-27T15:31:00Z"))
        #expect(full.runs.isEmpty)
        #expect(full.cursor == first.cursor)
        // Room again: the next two, oldest first.
        let later = RunScheduler.schedule(dag: etl, cursor: full.cursor, activeRuns: 0, now: at("2026-11-27T15:32:00Z"))
        #expect(times(later.runs) == ["2026-11-27T12:00:00Z", "2026-11-27T13:00:00Z"])
    }

    @Test func pausedCreatesNothingAndUnpausingAppliesCatchup() throws {
        let paused = try dag("0 * * * *", paused: true)
        let result = RunScheduler.schedule(
            dag: paused, cursor: at("2026-11-27T10:30:00Z"), activeRuns: 0, now: at("2026-11-27T15:30:00Z"))
        #expect(result.runs.isEmpty)
        #expect(result.cursor == at("2026-11-27T10:30:00Z"))
        let resumed = RunScheduler.schedule(
            dag: try dag("0 * * * *"), cursor: result.cursor, activeRuns: 0, now: at("2026-11-27T15:30:00Z"))
        #expect(times(resumed.runs) == ["2026-11-27T15:00:00Z"])
    }

    @Test func startBoundsTheFirstRuns() throws {
        // A start in the past with catchup: ticks from the start on (the tick at the start included).
        let backfilling = try dag(
            "0 0 * * *", start: "2026-11-25T00:00:00Z", catchup: .missed(limit: nil), maxActive: 5)
        let result = RunScheduler.schedule(
            dag: backfilling, cursor: nil, activeRuns: 0, now: at("2026-11-27T12:00:00Z"))
        #expect(times(result.runs) == ["2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"])
        // A start in the future: nothing before it.
        let future = try dag("0 * * * *", start: "2026-12-01T00:00:00Z")
        let waiting = RunScheduler.schedule(dag: future, cursor: nil, activeRuns: 0, now: at("2026-11-27T12:00:00Z"))
        #expect(waiting.runs.isEmpty)
        #expect(waiting.nextTick == at("2026-12-01T00:00:00Z"))
    }

    /// Europe/Berlin springs forward at 02:00 on 2027-03-28: a 02:30 schedule fires once, at 03:00
    /// local (01:00Z); on the fall-back day 2026-10-25 it fires once, at the first 02:30 (00:30Z).
    @Test func daylightSavingTransitions() throws {
        let berlin = try dag("30 2 * * *", zone: "Europe/Berlin")
        let spring = RunScheduler.schedule(
            dag: berlin, cursor: at("2027-03-27T12:00:00Z"), activeRuns: 0, now: at("2027-03-28T12:00:00Z"))
        #expect(times(spring.runs) == ["2027-03-28T01:00:00Z"])
        let autumn = RunScheduler.schedule(
            dag: try dag("30 2 * * *", zone: "Europe/Berlin", catchup: .missed(limit: nil), maxActive: 5),
            cursor: at("2026-10-24T12:00:00Z"), activeRuns: 0, now: at("2026-10-25T12:00:00Z"))
        #expect(times(autumn.runs) == ["2026-10-25T00:30:00Z"])
    }

    @Test func aLeapDayScheduleRunsOnlyOnLeapDays() throws {
        let leap = try dag("0 6 29 2 *", catchup: .missed(limit: nil), maxActive: 10)
        let result = RunScheduler.schedule(
            dag: leap, cursor: at("2026-01-01T00:00:00Z"), activeRuns: 0, now: at("2033-01-01T00:00:00Z"))
        #expect(times(result.runs) == ["2028-02-29T06:00:00Z", "2032-02-29T06:00:00Z"])
        #expect(result.nextTick == at("2036-02-29T06:00:00Z"))
    }

    @Test func aDAGWithoutScheduleRunsOnlyWhenTriggered() {
        let manual = DAGSpec(name: "adhoc", tasks: [TaskSpec(name: "a", command: ["true"])])
        let result = RunScheduler.schedule(dag: manual, cursor: nil, activeRuns: 0, now: at("2026-11-27T12:00:00Z"))
        #expect(result.runs.isEmpty)
        #expect(result.nextTick == nil)
    }
}

@Suite struct BackfillTests {
    /// Every tick in the range, inclusive at both ends, each covering the interval from the tick
    /// before it (the first one's from the tick before the range), in the DAG's zone.
    @Test func aBackfillCoversEveryTickWithItsDataInterval() throws {
        let dag = DAGSpec(
            name: "nightly", schedule: try CronSchedule(parsing: "0 3 * * *"), timezone: "Europe/Berlin",
            tasks: [TaskSpec(name: "a", command: ["true"])])
        let format = ISO8601DateFormatter()
        let runs = try #require(
            RunScheduler.backfill(
                dag: dag, from: format.date(from: "2026-03-28T02:00:00Z")!,
                to: format.date(from: "2026-03-30T01:00:00Z")!))
        // 03:00 Berlin is 02:00Z before the DST change on 29 March and 01:00Z after it.
        #expect(
            runs.map(\.runID) == [
                "backfill__2026-03-28T02:00:00Z", "backfill__2026-03-29T01:00:00Z", "backfill__2026-03-30T01:00:00Z",
            ])
        #expect(
            runs.map { format.string(from: $0.dataIntervalStart) } == [
                "2026-03-27T02:00:00Z", "2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z",
            ])
        #expect(
            RunScheduler.backfill(dag: dag, from: .distantPast, to: Date(timeIntervalSince1970: 0), limit: 10) == nil)
        var manual = dag
        manual.schedule = nil
        #expect(RunScheduler.backfill(dag: manual, from: .distantPast, to: .distantFuture) == [])
    }
}
