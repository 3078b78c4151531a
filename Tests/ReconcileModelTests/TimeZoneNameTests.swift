import Foundation
import ReconcileModel
import Testing

/// Every name the system's tz database has is a time zone a DAG can be scheduled in.
@Suite struct TimeZoneNameTests {
    static let database = TimeZoneName.database()
    static let january = Date(timeIntervalSince1970: 1_768_435_200)  // 2026-01-15T00:00:00Z

    @Test func theSystemHasATzDatabase() {
        // Debian's tzdata: about 450 zones and 150 links.
        #expect(Self.database.count > 500, "\(Self.database.count) names in tzdata.zi")
        #expect(Self.database["Asia/Kolkata"] == "Asia/Kolkata")
        #expect(Self.database["US/Eastern"] == "America/New_York")
    }

    /// Each zone and link name is accepted, and a daily schedule fires at its local midnight.
    @Test func everyZoneAndLinkFiresADailyScheduleAtLocalMidnight() throws {
        let daily = try CronSchedule(parsing: "0 0 * * *")
        var refused: [String] = []
        var wrong: [String] = []
        for name in Self.database.keys.sorted() {
            guard let zone = try? TimeZoneName.zone(named: name) else {
                refused.append(name)
                continue
            }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            for time in daily.nextFireTimes(after: Self.january, in: zone, count: 2) {
                let parts = calendar.dateComponents([.hour, .minute, .second], from: time)
                if parts.hour != 0 || parts.minute != 0 || parts.second != 0 { wrong.append("\(name) \(time)") }
            }
        }
        #expect(refused.isEmpty, "refused: \(refused.prefix(20))")
        #expect(wrong.isEmpty, "not at local midnight: \(wrong.prefix(20))")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var zone: String
        var after: String
        var next: String
        var testDescription: String { "\(zone) after \(after)" }
    }

    /// Links keep their zone's rules, daylight saving included.
    @Test(arguments: [
        Case(zone: "Asia/Kolkata", after: "2026-01-15T00:00:00Z", next: "2026-01-15T18:30:00Z"),
        Case(zone: "Asia/Calcutta", after: "2026-01-15T00:00:00Z", next: "2026-01-15T18:30:00Z"),
        Case(zone: "US/Eastern", after: "2026-01-15T00:00:00Z", next: "2026-01-15T05:00:00Z"),
        Case(zone: "US/Eastern", after: "2026-07-15T00:00:00Z", next: "2026-07-15T04:00:00Z"),
        Case(zone: "US/Pacific", after: "2026-07-15T00:00:00Z", next: "2026-07-15T07:00:00Z"),
        Case(zone: "Etc/UTC", after: "2026-07-15T00:00:00Z", next: "2026-07-16T00:00:00Z"),
        Case(zone: "Etc/GMT+5", after: "2026-07-15T00:00:00Z", next: "2026-07-15T05:00:00Z"),
        Case(zone: "Japan", after: "2026-07-15T00:00:00Z", next: "2026-07-15T15:00:00Z"),
        Case(zone: "Europe/London", after: "2026-07-15T00:00:00Z", next: "2026-07-15T23:00:00Z"),
    ])
    func midnightInNamedZones(_ item: Case) throws {
        let formatter = ISO8601DateFormatter()
        let after = try #require(formatter.date(from: item.after))
        let zone = try TimeZoneName.zone(named: item.zone)
        let next = try CronSchedule(parsing: "0 0 * * *").nextFireTimes(after: after, in: zone, count: 1)
        #expect(next.map(formatter.string(from:)) == [item.next])
    }

    @Test func abbreviationsAndTyposAreRefusedWithAHint() {
        #expect(throws: ValueError.self) { try TimeZoneName.zone(named: "PST") }
        do {
            _ = try TimeZoneName.zone(named: "asia/kolkata")
            Issue.record("a wrongly cased name was accepted")
        } catch {
            #expect(error.message.contains("did you mean \"Asia/Kolkata\"?"), "\(error.message)")
        }
    }
}
