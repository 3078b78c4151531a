import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// Silences kept in git (pure): globs, severities, fixed and recurring windows in a time zone.
@Suite struct SilenceRulesTests {
    func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test(arguments: [
        ("check/db-*", "check/db-primary", true), ("check/db-*", "check/web", false), ("*", "commit", true),
        ("dag/?tl", "dag/etl", true), ("dag/?tl", "dag/eetl", false), ("node/a*b", "node/axxb", true),
        ("node/a*b", "node/axxbc", false), ("check/disk", "check/disk", true),
    ])
    func globsMatchIncidentKeys(pattern: String, key: String, matches: Bool) {
        #expect(Glob.matches(pattern, key) == matches)
    }

    /// Sundays 02:00–04:00 Berlin time: in winter 01:00–03:00 UTC, in summer 00:00–02:00 UTC.
    @Test(
        arguments: [
            ("2026-01-04T01:30:00Z", "2026-01-04T03:00:00Z"), ("2026-01-04T03:00:00Z", nil),
            ("2026-01-04T00:59:00Z", nil), ("2026-07-05T00:30:00Z", "2026-07-05T02:00:00Z"),
            ("2026-07-05T02:30:00Z", nil), ("2026-01-05T01:30:00Z", nil),
        ] as [(String, String?)])
    func aRecurringWindowIsOpenFromEachTickForItsDuration(now: String, until: String?) throws {
        let silence = SilenceSpec(
            name: "maintenance", matchers: [.init(incident: "check/*")],
            window: .recurring(
                schedule: try CronSchedule(parsing: "0 2 * * sun"), duration: .hours(2), timezone: "Europe/Berlin"))
        #expect(SilenceRules.openUntil(silence, now: at(now)) == until.map(at))
    }

    /// A minutely window that lasts years is judged from its newest start (found by looking back,
    /// not by walking years of minutes).
    @Test func aLongWindowOfAFrequentScheduleEndsADurationAfterItsNewestStart() throws {
        let silence = SilenceSpec(
            name: "long", matchers: [.init(incident: "*")],
            window: .recurring(
                schedule: try CronSchedule(parsing: "* * * * *"), duration: .hours(24 * 365 * 5), timezone: "UTC"))
        let now = at("2026-03-01T12:34:56Z")
        #expect(SilenceRules.openUntil(silence, now: now) == at("2031-02-28T12:34:00Z"))
    }

    @Test func mutesFollowMatchersAndSeverityAndTheLatestEndWins() {
        let warnings = SilenceSpec(
            name: "warnings", matchers: [.init(incident: "check/*", severity: .warning)],
            window: .fixed(from: at("2026-03-01T00:00:00Z"), until: at("2026-03-02T00:00:00Z")))
        let longer = SilenceSpec(
            name: "longer", matchers: [.init(incident: "check/disk")],
            window: .fixed(from: at("2026-03-01T00:00:00Z"), until: at("2026-03-03T00:00:00Z")))
        let conditions = [
            Condition(key: "check/disk", failing: true, summary: "", notifiers: [], severity: .warning),
            Condition(key: "check/web", failing: true, summary: "", notifiers: [], severity: .warning),
            Condition(key: "check/db", failing: true, summary: "", notifiers: [], severity: .critical),
            Condition(key: "dag/etl", failing: true, summary: "", notifiers: [], severity: .warning),
        ]
        let mutes = SilenceRules.mutes([warnings, longer], conditions: conditions, now: at("2026-03-01T12:00:00Z"))
        #expect(mutes["check/disk"] == .init(until: at("2026-03-03T00:00:00Z"), by: "longer"))
        #expect(mutes["check/web"] == .init(until: at("2026-03-02T00:00:00Z"), by: "warnings"))
        #expect(mutes["check/db"] == nil, "a critical one is not muted by a warnings-only silence")
        #expect(mutes["dag/etl"] == nil)
        #expect(SilenceRules.mutes([warnings], conditions: conditions, now: at("2026-03-02T00:00:00Z")).isEmpty)
    }

    /// Muted while the window is open; when it closes with the check still failing, the notice
    /// goes out at once.
    @Test func anIncidentMutedByAWindowNotifiesWhenTheWindowCloses() {
        let policies = ["mail": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true)]
        let silence = SilenceSpec(
            name: "night", matchers: [.init(incident: "check/*")],
            window: .fixed(from: at("2026-03-01T00:00:00Z"), until: at("2026-03-01T02:00:00Z")))
        let failing = Condition(key: "check/disk", failing: true, summary: "disk", notifiers: ["mail"])
        var incidents: [Incident] = []
        var notices: [[String]] = []
        for time in ["2026-03-01T01:00:00Z", "2026-03-01T01:59:00Z", "2026-03-01T02:00:00Z", "2026-03-01T02:01:00Z"] {
            let now = at(time)
            let mutes = SilenceRules.mutes([silence], conditions: [failing], now: now)
            let step = IncidentMachine.step(
                incidents: incidents, conditions: [failing], silences: mutes.mapValues(\.until), notifiers: policies,
                now: now)
            incidents = step.open
            notices.append(step.notices.map { "\($0.kind.rawValue) \($0.notifier)" })
        }
        #expect(notices == [[], [], ["firing mail"], []])
    }
}
