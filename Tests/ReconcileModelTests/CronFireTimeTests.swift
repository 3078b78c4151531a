import Foundation
import Testing

@testable import ReconcileModel

/// Table tests for fire times, including the daylight-saving rules of manifests/dag.yaml.
@Suite struct CronFireTimeTests {
    static func instant(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var expression: String
        var zone: String
        var after: String
        var expected: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "spring-forward gap fires once at the end of the gap", expression: "30 2 * * *",
            zone: "America/Vancouver", after: "2026-03-07T12:00:00Z",
            expected: ["2026-03-08T10:00:00Z", "2026-03-09T09:30:00Z"]),
        Case(
            name: "several ticks inside a gap fire once", expression: "*/30 * * * *", zone: "America/Vancouver",
            after: "2026-03-08T09:00:00Z",
            expected: ["2026-03-08T09:30:00Z", "2026-03-08T10:00:00Z", "2026-03-08T10:30:00Z"]),
        Case(
            name: "repeated hour fires at the first occurrence", expression: "30 1 * * *",
            zone: "America/Vancouver", after: "2026-11-01T07:00:00Z",
            expected: ["2026-11-01T08:30:00Z", "2026-11-02T09:30:00Z"]),
        Case(
            name: "hour field * fires every real hour through fall back", expression: "0 * * * *",
            zone: "America/Vancouver", after: "2026-11-01T07:30:00Z",
            expected: ["2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z", "2026-11-01T10:00:00Z"]),
        Case(
            name: "restricted hour: repeated ticks fire once", expression: "*/30 1 * * *", zone: "America/Vancouver",
            after: "2026-11-01T07:00:00Z",
            expected: ["2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z", "2026-11-02T09:00:00Z"]),
        Case(
            name: "from inside the second occurrence, a first-occurrence tick is not repeated",
            expression: "45 1 * * *", zone: "America/Vancouver", after: "2026-11-01T09:10:00Z",
            expected: ["2026-11-02T09:45:00Z"]),
        Case(
            name: "from inside the first occurrence, every-hour finds the second", expression: "0 * * * *",
            zone: "America/Vancouver", after: "2026-11-01T08:30:00Z",
            expected: ["2026-11-01T09:00:00Z", "2026-11-01T10:00:00Z"]),
        Case(
            name: "Europe/Berlin spring forward", expression: "15 2 * * *", zone: "Europe/Berlin",
            after: "2026-03-28T12:00:00Z", expected: ["2026-03-29T01:00:00Z", "2026-03-30T00:15:00Z"]),
        Case(
            name: "leap day", expression: "0 12 29 2 *", zone: "UTC", after: "2026-01-01T00:00:00Z",
            expected: ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"]),
        Case(
            name: "far future: 2100 is not a leap year", expression: "0 0 29 2 *", zone: "UTC",
            after: "2096-03-01T00:00:00Z", expected: ["2104-02-29T00:00:00Z"]),
        Case(
            name: "day-of-month OR day-of-week", expression: "0 0 13 * fri", zone: "UTC",
            after: "2026-11-01T00:00:00Z",
            expected: [
                "2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z",
                "2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z",
            ]),
        Case(
            name: "weekday with any day-of-month is AND", expression: "0 9 * * mon", zone: "UTC",
            after: "2026-11-27T00:00:00Z", expected: ["2026-11-30T09:00:00Z", "2026-12-07T09:00:00Z"]),
        Case(
            name: "quarter-hour offset zone", expression: "0 0 * * *", zone: "Asia/Kathmandu",
            after: "2026-06-01T00:00:00Z", expected: ["2026-06-01T18:15:00Z", "2026-06-02T18:15:00Z"]),
        Case(
            name: "a whole skipped day (Samoa, 2011)", expression: "0 12 * * *", zone: "Pacific/Apia",
            after: "2011-12-29T00:00:00Z",
            expected: ["2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"]),
        Case(
            name: "strictly after: a tick at the start instant is not repeated", expression: "0 3 * * *",
            zone: "UTC", after: "2026-05-01T03:00:00Z", expected: ["2026-05-02T03:00:00Z"]),
        Case(
            name: "seconds in the start instant round up to the next minute", expression: "* * * * *", zone: "UTC",
            after: "2026-05-01T03:00:30Z", expected: ["2026-05-01T03:01:00Z"]),
        Case(
            name: "year boundary", expression: "59 23 31 12 *", zone: "UTC", after: "2026-12-31T23:59:00Z",
            expected: ["2027-12-31T23:59:00Z"]),
    ]

    @Test(arguments: cases)
    func fireTimes(_ item: Case) throws {
        let schedule = try CronSchedule(parsing: item.expression)
        let zone = try TimeZoneName.zone(named: item.zone)
        let times = schedule.nextFireTimes(after: Self.instant(item.after), in: zone, count: item.expected.count)
        #expect(times.map(Self.format) == item.expected)
    }

    @Test func fireTimesWithinAWindow() throws {
        let schedule = try CronSchedule(parsing: "0 */6 * * *")
        let times = schedule.fireTimes(
            after: Self.instant("2026-01-01T00:00:00Z"), through: Self.instant("2026-01-02T00:00:00Z"),
            in: TimeZone(identifier: "UTC")!, limit: 100)
        #expect(
            times.map(Self.format) == [
                "2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T00:00:00Z",
            ])
    }

    @Test func fireTimesAreStrictlyIncreasingAcrossAYearOfTransitions() throws {
        for zone in ["America/Vancouver", "Europe/London", "Australia/Lord_Howe", "America/Santiago"] {
            for expression in ["*/7 * * * *", "30 1,2 * * *", "0 * * * *"] {
                let schedule = try CronSchedule(parsing: expression)
                let times = schedule.nextFireTimes(
                    after: Self.instant("2026-01-01T00:00:00Z"), in: TimeZone(identifier: zone)!, count: 3000)
                #expect(times.count == 3000)
                #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 }, "\(zone) \(expression)")
            }
        }
    }
}
