/// The search over wall-clock time: which local minutes match, independent of any time zone.
extension CronSchedule {
    /// How far ahead a search looks. A satisfiable schedule fires within 8 years (Feb 29 across a
    /// skipped leap year such as 2100); the bound only keeps the loop finite.
    static let searchYears = 30

    /// The first matching wall-clock minute at or after `local` (seconds since 1970-01-01 as read on
    /// a wall clock), or nil when none exists within `searchYears`.
    func nextLocalMatch(atOrAfter local: Int64) -> Int64? {
        var days = Int(local.floorDivided(by: 86_400))
        let secondOfDay = Int(local - Int64(days) * 86_400)
        var minuteOfDay = (secondOfDay + 59) / 60
        if minuteOfDay >= 1440 {
            days += 1
            minuteOfDay = 0
        }
        var date = CivilDate(daysSinceEpoch: days)
        let lastYear = date.year + Self.searchYears
        while date.year <= lastYear {
            if !matchesMonth(date.month) {
                var month = date.month
                var year = date.year
                repeat {
                    month += 1
                    if month > 12 {
                        month = 1
                        year += 1
                    }
                } while !matchesMonth(month) && year <= lastYear
                date = CivilDate(year: year, month: month, day: 1)
                minuteOfDay = 0
                continue
            }
            if matchesDay(date), let minute = firstMinute(atOrAfter: minuteOfDay) {
                return Int64(date.daysSinceEpoch) * 86_400 + Int64(minute) * 60
            }
            // Next day.
            if date.day < CivilDate.daysIn(month: date.month, year: date.year) {
                date.day += 1
            } else {
                date = CivilDate(year: date.month == 12 ? date.year + 1 : date.year, month: date.month % 12 + 1, day: 1)
            }
            minuteOfDay = 0
        }
        return nil
    }

    /// The first matching minute of a day at or after `minuteOfDay`, or nil.
    private func firstMinute(atOrAfter minuteOfDay: Int) -> Int? {
        var hour = minuteOfDay / 60
        var minute = minuteOfDay % 60
        while hour < 24 {
            let hourMask = UInt64(hours) >> UInt64(hour)
            guard hourMask != 0 else { return nil }
            let skip = hourMask.trailingZeroBitCount
            if skip > 0 {
                hour += skip
                minute = 0
            }
            let minuteMask = minutes >> UInt64(minute)
            if minuteMask != 0 {
                let found = minute + minuteMask.trailingZeroBitCount
                if found < 60 { return hour * 60 + found }
            }
            hour += 1
            minute = 0
        }
        return nil
    }
}

extension Int64 {
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
