import Foundation
import ReconcileTesting
import Testing

@testable import ReconcileModel

/// Compares the cron engine with croniter (Airflow's cron library) on random expressions, zones and
/// start instants. Results are compared up to the first one near a UTC offset change, where the two
/// deliberately differ (croniter has no DST rules of ours); everything before it must agree exactly.
@Suite struct CronDifferentialTests {
    static let zones = [
        "UTC", "America/Vancouver", "America/New_York", "Europe/Berlin", "Europe/London", "Asia/Tokyo",
        "Asia/Kolkata", "Asia/Kathmandu", "Australia/Sydney", "Australia/Lord_Howe", "America/Sao_Paulo",
        "Pacific/Auckland", "Africa/Cairo", "America/Santiago", "Asia/Tehran", "Pacific/Chatham",
    ]

    struct Case: Codable {
        var expression: String
        /// The expression as croniter is asked: croniter 7.0 reads a one-value range (`9-9`,
        /// `7-jul`, `2-2/1`) as `*`, so those are written as the value (`9`, `7`, `2`).
        var oracle: String
        var zone: String
        var start: Int64
        var count: Int
        /// The engine refused the expression (it can never fire): croniter must find nothing either.
        var refused: Bool
    }

    static func field(
        _ low: Int, _ high: Int, names: [String] = [], allowStartStep: Bool = true,
        using rng: inout SeededGenerator
    ) -> String {
        func value() -> String {
            let number = Int.random(in: low...high, using: &rng)
            if !names.isEmpty, Int.random(in: 0..<4, using: &rng) == 0 {
                return names[number - low]
            }
            return String(number)
        }
        func range() -> String {
            // One in five is a one-value range (`9-9`, `jul-7`), which croniter misreads.
            if Int.random(in: 0..<5, using: &rng) == 0 {
                let a = Int.random(in: low...high, using: &rng)
                let named = !names.isEmpty && Bool.random(using: &rng)
                return named ? "\(names[a - low])-\(a)" : "\(a)-\(a)"
            }
            let a = Int.random(in: low..<high, using: &rng)
            let b = Int.random(in: (a + 1)...high, using: &rng)
            return "\(a)-\(b)"
        }
        let span = high - low + 1
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1: return "*"
        case 2: return value()
        case 3: return range()
        case 4: return "*/\(Int.random(in: 1...max(1, span / 2), using: &rng))"
        case 5: return "\(range())/\(Int.random(in: 1...max(1, span / 3), using: &rng))"
        case 6 where allowStartStep:
            return "\(Int.random(in: low...high, using: &rng))/\(Int.random(in: 1...max(1, span / 3), using: &rng))"
        default:
            let count = Int.random(in: 2...3, using: &rng)
            return (0..<count).map { _ in Int.random(in: 0..<3, using: &rng) == 0 ? range() : value() }
                .joined(separator: ",")
        }
    }

    static func expression(using rng: inout SeededGenerator) -> String {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        return [
            field(0, 59, using: &rng), field(0, 23, using: &rng), field(1, 31, using: &rng),
            field(1, 12, names: months, using: &rng),
            // croniter reads "a/n" in day-of-week up to 7 (Sunday again); keep to forms both read alike.
            field(0, 6, names: days, allowStartStep: false, using: &rng),
        ].joined(separator: " ")
    }

    /// `expression` with each one-value range (`a-a`, `a-a/n`, names or numbers) written as its value.
    static func forOracle(_ expression: String) -> String {
        let names = [
            "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
            "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
        ]
        func number(_ text: Substring) -> Int? { Int(text) ?? names[text.lowercased()] }
        return expression.split(separator: " ").map { field in
            field.split(separator: ",").map { item -> String in
                let range = item.split(separator: "/").first ?? item
                let ends = range.split(separator: "-")
                guard ends.count == 2, let a = number(ends[0]), a == number(ends[1]) else { return String(item) }
                return String(a)
            }.joined(separator: ",")
        }.joined(separator: " ")
    }

    static func cases(count: Int, seed: UInt64) -> [Case] {
        var rng = SeededGenerator(seed: seed)
        var result: [Case] = []
        while result.count < count {
            let text = expression(using: &rng)
            // Expressions the engine refuses stay in: croniter must agree that they never fire.
            let refused = (try? CronSchedule(parsing: text)) == nil
            let start = Int64.random(in: 631_152_000...2_871_763_200, using: &rng)  // 1990 ... 2061
            result.append(
                Case(
                    expression: text, oracle: forOracle(text), zone: zones.randomElement(using: &rng)!, start: start,
                    count: 5, refused: refused))
        }
        // Random fields rarely make an impossible date: some that are, and a rare one that is not.
        let impossible = [
            "0 0 30 2 *", "0 0 31 4 *", "15 10 31 2,4,6 *", "0 0 30,31 2 *", "*/5 * 31 11 *", "0 12 31 jun *",
            "0 0 30-31 feb *", "0 0 31 sep,nov *", "59 23 31 apr-jun/2 *", "0 0 30 feb,2 *",
        ]
        for text in impossible + ["0 0 29 2 *", "0 0 31 1-2 *"] {
            let start = Int64.random(in: 631_152_000...2_871_763_200, using: &rng)
            result.append(
                Case(
                    expression: text, oracle: forOracle(text), zone: zones.randomElement(using: &rng)!, start: start,
                    count: 5, refused: (try? CronSchedule(parsing: text)) == nil))
        }
        return result
    }

    /// True when an offset change lies within a day of `(lower, upper]` and the schedule has a
    /// wall-clock time within a day of it: only there can DST rules change the answer.
    static func nearTransition(_ schedule: CronSchedule, _ zone: TimeZone, _ lower: Int64, _ upper: Int64) -> Bool {
        var cursor = Date(timeIntervalSince1970: TimeInterval(lower - 86_400))
        let end = TimeInterval(upper + 86_400)
        while let transition = zone.nextDaylightSavingTimeTransition(after: cursor),
            transition.timeIntervalSince1970 <= end
        {
            let seconds = Int64(transition.timeIntervalSince1970)
            let local = seconds + Int64(zone.secondsFromGMT(for: transition))
            if let match = schedule.nextLocalMatch(atOrAfter: local - 2 * 86_400), match <= local + 2 * 86_400 {
                return true
            }
            cursor = transition
        }
        return false
    }

    /// One-value ranges, which croniter 7.0 reads as `*`: the right answers, and the generator
    /// makes them.
    @Test func oneValueRangesFireAtTheirValue() throws {
        let formatter = ISO8601DateFormatter()
        let utc = try TimeZoneName.zone(named: "UTC")
        let after = try #require(formatter.date(from: "2026-03-10T10:30:00Z"))
        for (expression, expected) in [
            ("0 9-9 * * *", ["2026-03-11T09:00:00Z", "2026-03-12T09:00:00Z"]),
            ("0 0 1 7-jul *", ["2026-07-01T00:00:00Z", "2027-07-01T00:00:00Z"]),
            ("2-2/1 * * * *", ["2026-03-10T11:02:00Z", "2026-03-10T12:02:00Z"]),
            ("0 12 * * mon-1", ["2026-03-16T12:00:00Z", "2026-03-23T12:00:00Z"]),
        ] {
            let times = try CronSchedule(parsing: expression).nextFireTimes(after: after, in: utc, count: 2)
            #expect(times.map(formatter.string(from:)) == expected, "\(expression)")
        }
        #expect(Self.forOracle("2-2/1 9-9 1,5-5 jul-7 mon-1") == "2 9 1,5 7 1")
        #expect(Self.forOracle("1-5 */2 3-4/2 jan-mar *") == "1-5 */2 3-4/2 jan-mar *")
        let generated = Self.cases(count: 2_000, seed: 7).map(\.expression)
        #expect(generated.contains { $0 != Self.forOracle($0) }, "the generator makes one-value ranges")
    }

    @Test func agreesWithCroniter() async throws {
        let cases = await Blocking.run { Self.cases(count: 11_000, seed: 20_261_127) }
        #expect(cases.filter(\.refused).count >= 10)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cron-diff-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("cases.json")
        let output = directory.appendingPathComponent("croniter.json")
        try JSONEncoder().encode(cases).write(to: input)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("oracles/croniter_oracle.py")
        // The oracle and the comparison take seconds: on a thread of their own (see `Blocking`).
        let oracle = try await Blocking.run {
            try Command.run(["python3", script.path, input.path, output.path])
        }
        try #require(
            oracle.status == 0,
            "croniter oracle failed (pip install croniter==7.0.0; scripts/setup does): \(oracle.stderr)")
        let expected = try JSONDecoder().decode([[Int64]?].self, from: Data(contentsOf: output))
        try #require(expected.count == cases.count)
        let result = try await Blocking.run { try Self.compare(cases, expected) }
        #expect(
            result.mismatches.isEmpty, "\(result.mismatches.count) mismatches, first: \(result.mismatches.prefix(5))")
        // Most cases must actually be compared, or the test proves little.
        #expect(result.compared >= 10_000, "only \(result.compared) of \(cases.count) cases compared")
        // Impossible dates (30 February, 31 April) are refused by both.
        #expect(result.refusedBoth >= 10, "only \(result.refusedBoth) never-firing expressions refused by both")
        print(
            "cron differential: \(result.compared) cases, \(result.comparedTimes) fire times agree with croniter; "
                + "\(result.refusedBoth) never-firing expressions refused by both")
    }

    struct Comparison: Sendable {
        var compared = 0
        var comparedTimes = 0
        var refusedBoth = 0
        var mismatches: [String] = []
    }

    static func compare(_ cases: [Case], _ expected: [[Int64]?]) throws -> Comparison {
        var compared = 0
        var comparedTimes = 0
        var refusedBoth = 0
        var mismatches: [String] = []
        for (item, answer) in zip(cases, expected) {
            // A refused expression is one croniter finds no time for in 50 years, and the refusal
            // says so; a croniter "never" must be an expression the engine refused.
            if item.refused || answer == nil {
                if item.refused, answer == nil {
                    refusedBoth += 1
                    do {
                        _ = try CronSchedule(parsing: item.expression)
                    } catch {
                        if !"\(error)".contains("never") {
                            mismatches.append("\"\(item.expression)\" refused without saying it never fires: \(error)")
                        }
                    }
                } else {
                    mismatches.append(
                        "\"\(item.expression)\": \(item.refused ? "refused, croniter fires" : "croniter never fires")")
                }
                continue
            }
            let reference = answer ?? []
            let zone = TimeZone(identifier: item.zone)!
            let schedule = try CronSchedule(parsing: item.expression)
            let ours = schedule.nextFireTimes(
                after: Date(timeIntervalSince1970: TimeInterval(item.start)), in: zone, count: item.count
            ).map { Int64($0.timeIntervalSince1970) }
            var previous = item.start
            var agreedHere = 0
            for (index, theirs) in reference.enumerated() {
                if Self.nearTransition(schedule, zone, previous, max(theirs, index < ours.count ? ours[index] : theirs))
                {
                    break
                }
                if index >= ours.count || ours[index] != theirs {
                    mismatches.append(
                        "\"\(item.expression)\" \(item.zone) after \(item.start): #\(index) ours "
                            + "\(index < ours.count ? String(ours[index]) : "none") croniter \(theirs)")
                    break
                }
                previous = theirs
                agreedHere += 1
            }
            if agreedHere > 0 { compared += 1 }
            comparedTimes += agreedHere
        }
        return Comparison(
            compared: compared, comparedTimes: comparedTimes, refusedBoth: refusedBoth, mismatches: mismatches)
    }
}
