import Testing

@testable import ReconcileModel

@Suite struct CronParseTests {
    func bits(_ mask: UInt64) -> [Int] { (0..<64).filter { mask & (1 << UInt64($0)) != 0 } }

    @Test func fieldsExpand() throws {
        let cron = try CronSchedule(parsing: "*/15 9-17/4 1,15 jan-mar mon-fri")
        #expect(bits(cron.minutes) == [0, 15, 30, 45])
        #expect(bits(UInt64(cron.hours)) == [9, 13, 17])
        #expect(bits(UInt64(cron.daysOfMonth)) == [1, 15])
        #expect(bits(UInt64(cron.months)) == [1, 2, 3])
        #expect(bits(UInt64(cron.daysOfWeek)) == [1, 2, 3, 4, 5])
        #expect(cron.daysMatchEither)
    }

    @Test func sundayIsZeroOrSeven() throws {
        #expect(try CronSchedule(parsing: "0 0 * * 7").daysOfWeek == 1)
        #expect(try CronSchedule(parsing: "0 0 * * 5-7").daysOfWeek == 0b110_0001)
        #expect(try CronSchedule(parsing: "0 0 * * SUN").daysOfWeek == 1)
    }

    @Test func startWithStep() throws {
        #expect(bits(try CronSchedule(parsing: "5/20 * * * *").minutes) == [5, 25, 45])
    }

    @Test(arguments: [
        ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@midnight", "0 0 * * *"),
    ])
    func macros(macro: String, expanded: String) throws {
        let a = try CronSchedule(parsing: macro)
        let b = try CronSchedule(parsing: expanded)
        #expect(a.minutes == b.minutes && a.hours == b.hours && a.daysOfMonth == b.daysOfMonth)
        #expect(a.months == b.months && a.daysOfWeek == b.daysOfWeek && a.daysMatchEither == b.daysMatchEither)
    }

    @Test(
        arguments: [
            ("* * * *", "has 4 fields", nil),
            ("* * * * * *", "has 6 fields", nil),
            ("60 * * * *", "minute field \"60\": 60 is out of range 0-59", 0),
            ("* 24 * * *", "hour field \"24\": 24 is out of range 0-23", 2),
            ("* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31", 4),
            ("* * * 13 *", "month field \"13\"", 6),
            ("* * * * 8", "day-of-week field \"8\"", 8),
            ("* * * foo *", "\"foo\" is not a number or a name", 6),
            ("*/0 * * * *", "step \"0\" must be a positive number", 0),
            ("*/61 * * * *", "step 61 is larger", 0),
            ("5-1 * * * *", "runs backwards", 0),
            ("1,,2 * * * *", "empty list item", 2),
            ("0 0 * * mon,xyz", "\"xyz\" is not a number or a name", 12),
            ("@every5m", "unknown cron macro", nil),
            ("0 0 30 2 *", "can never fire", nil),
            ("0 0 31 4,6,9,11 *", "can never fire", nil),
        ] as [(String, String, Int?)])
    func rejects(expression: String, fragment: String, offset: Int?) {
        do {
            _ = try CronSchedule(parsing: expression)
            Issue.record("\(expression) parsed")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
            #expect(error.offset == offset, "\(expression): \(error.message)")
        }
    }

    @Test(arguments: ["0 0 29 2 *", "0 0 30 2 mon", "0 0 31 * *", "0 0 30 1-2 *"])
    func possibleButRareSchedulesAreAccepted(expression: String) throws {
        _ = try CronSchedule(parsing: expression)
    }

    @Test func dayFieldsOrOnlyWhenBothRestricted() throws {
        #expect(try CronSchedule(parsing: "0 0 1 * mon").daysMatchEither)
        #expect(try CronSchedule(parsing: "0 0 */2 * mon").daysMatchEither)
        #expect(!(try CronSchedule(parsing: "0 0 * * mon").daysMatchEither))
        #expect(!(try CronSchedule(parsing: "0 0 1 * *").daysMatchEither))
        // A field matching every day is unrestricted only next to a field starting with `*` (croniter).
        #expect(!(try CronSchedule(parsing: "0 0 */6 * 0-6").daysMatchEither))
        #expect(!(try CronSchedule(parsing: "0 0 */6 * */1").daysMatchEither))
        #expect(try CronSchedule(parsing: "0 0 1,8 * 0-6").daysMatchEither)
        #expect(try CronSchedule(parsing: "0 0 1-31 * mon").daysMatchEither)
    }
}
