/// A five-field cron expression (`minute hour day-of-month month day-of-week`) or a macro
/// (`@hourly @daily @weekly @monthly @yearly`, plus `@midnight` and `@annually`).
///
/// Fields take `*`, numbers, names (`jan`, `mon`), ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`,
/// and comma lists. When both day fields are restricted, a day matches if either matches, as in
/// Vixie cron and croniter; otherwise both must match. A day field is unrestricted when written `*`,
/// or when it matches every value and the other day field starts with `*` (croniter's reading).
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    /// Bit `n` set when minute `n` matches (0-59).
    public let minutes: UInt64
    /// Bit `n` set when hour `n` matches (0-23).
    public let hours: UInt32
    /// Bit `n` set when day `n` of the month matches (1-31).
    public let daysOfMonth: UInt32
    /// Bit `n` set when month `n` matches (1-12).
    public let months: UInt16
    /// Bit `n` set when weekday `n` matches (0 = Sunday ... 6 = Saturday; 7 is read as Sunday).
    public let daysOfWeek: UInt8
    /// Both day fields restricted: a day matches when either field does.
    public let daysMatchEither: Bool

    /// Every hour of the day matches: in a repeated (fall-back) hour such a schedule fires in both.
    public var firesEveryHour: Bool { hours == (1 << 24) - 1 }

    public var description: String { expression }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    struct FieldInfo {
        let label: String
        let low: Int
        let high: Int
        let names: [String]
        let nameBase: Int
    }

    static let fields: [FieldInfo] = [
        FieldInfo(label: "minute", low: 0, high: 59, names: [], nameBase: 0),
        FieldInfo(label: "hour", low: 0, high: 23, names: [], nameBase: 0),
        FieldInfo(label: "day-of-month", low: 1, high: 31, names: [], nameBase: 0),
        FieldInfo(label: "month", low: 1, high: 12, names: monthNames, nameBase: 1),
        FieldInfo(label: "day-of-week", low: 0, high: 7, names: dayNames, nameBase: 0),
    ]

    /// Parses an expression.
    /// - Throws: `ValueError` naming the field and the offending part, with `offset` at its position.
    public init(parsing text: String) throws(ValueError) {
        let trimmed = text.trimmingSpaces()
        expression = trimmed
        var source = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.macros[trimmed.lowercased()] else {
                throw ValueError(
                    "unknown cron macro \"\(trimmed)\"; use @hourly, @daily, @weekly, @monthly or @yearly")
            }
            source = expanded
        }
        // Split on runs of spaces/tabs, remembering where each field starts for error positions.
        var parts: [(text: Substring, offset: Int)] = []
        var index = source.startIndex
        var position = 0
        let leading = text.count - text.drop(while: { $0 == " " || $0 == "\t" }).count
        while index < source.endIndex {
            if source[index] == " " || source[index] == "\t" {
                index = source.index(after: index)
                position += 1
                continue
            }
            let start = index
            let startPosition = position
            while index < source.endIndex, source[index] != " ", source[index] != "\t" {
                index = source.index(after: index)
                position += 1
            }
            parts.append((source[start..<index], startPosition + leading))
        }
        guard parts.count == 5 else {
            throw ValueError(
                "cron expression \"\(trimmed)\" has \(parts.count) field\(parts.count == 1 ? "" : "s"); "
                    + "expected 5 (minute hour day-of-month month day-of-week) or a macro such as @daily")
        }
        var masks: [UInt64] = []
        for (fieldIndex, part) in parts.enumerated() {
            masks.append(try Self.parseField(part.text, Self.fields[fieldIndex], offset: part.offset))
        }
        minutes = masks[0]
        hours = UInt32(masks[1])
        daysOfMonth = UInt32(masks[2])
        months = UInt16(masks[3])
        var dow = masks[4]
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }
        daysOfWeek = UInt8(dow)
        // Day fields combine as in croniter (Airflow): a field written `*` is unrestricted, and so is
        // one matching every value when the other day field starts with `*` (`*/6 * 0-6` = every 6th day).
        let domText = parts[2].text
        let dowText = parts[4].text
        let domAll = UInt32(masks[2]) == 0xFFFF_FFFE
        let dowAll = dow & 0x7F == 0x7F
        let domUnrestricted = domText == "*" || (domAll && dowText.hasPrefix("*"))
        let dowUnrestricted = dowText == "*" || (dowAll && domText.hasPrefix("*"))
        daysMatchEither = !domUnrestricted && !dowUnrestricted
        if let problem = Self.impossibility(daysOfMonth: daysOfMonth, months: months, either: daysMatchEither) {
            throw ValueError("cron expression \"\(trimmed)\" can never fire: \(problem)")
        }
    }

    private static func parseField(_ text: Substring, _ field: FieldInfo, offset: Int) throws(ValueError) -> UInt64 {
        var mask: UInt64 = 0
        var itemOffset = offset
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { itemOffset += item.count + 1 }
            func fail(_ why: String) -> ValueError {
                ValueError("invalid \(field.label) field \"\(text)\": \(why)", offset: itemOffset)
            }
            guard !item.isEmpty else { throw fail("empty list item") }
            let stepParts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            var step = 1
            if stepParts.count == 2 {
                guard let value = Int(stepParts[1]), value > 0 else {
                    throw fail("step \"\(stepParts[1])\" must be a positive number")
                }
                guard value <= field.high - field.low + 1 else {
                    throw fail("step \(value) is larger than the field's range \(field.low)-\(field.high)")
                }
                step = value
            }
            let range = stepParts[0]
            var low: Int
            var high: Int
            if range == "*" {
                low = field.low
                high = field.label == "day-of-week" ? 6 : field.high
            } else {
                let bounds = range.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                low = try value(bounds[0], field, fail)
                if bounds.count == 2 {
                    high = try value(bounds[1], field, fail)
                    guard low <= high else {
                        throw fail(
                            "range \(range) runs backwards; write it as two ranges, e.g. \(low)-\(field.high),\(field.low)-\(high)"
                        )
                    }
                } else {
                    high = stepParts.count == 2 ? (field.label == "day-of-week" ? 6 : field.high) : low
                }
            }
            var current = low
            while current <= high {
                mask |= 1 << UInt64(current)
                current += step
            }
        }
        return mask
    }

    private static func value(
        _ text: Substring, _ field: FieldInfo, _ fail: (String) -> ValueError
    ) throws(ValueError) -> Int {
        if let number = Int(text), text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard number >= field.low, number <= field.high else {
                throw fail("\(number) is out of range \(field.low)-\(field.high)")
            }
            return number
        }
        if let index = field.names.firstIndex(of: text.lowercased()) { return index + field.nameBase }
        if field.names.isEmpty {
            throw fail("\"\(text)\" is not a number")
        }
        throw fail("\"\(text)\" is not a number or a name (\(field.names.joined(separator: " ")))")
    }

    /// Why a schedule can never fire, or nil. Decided from the masks alone, without searching time.
    static func impossibility(daysOfMonth: UInt32, months: UInt16, either: Bool) -> String? {
        // With either-day matching the weekday field alone finds a day in every month.
        if either { return nil }
        let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var days: [Int] = []
        for month in 1...12 where months & (1 << month) != 0 {
            for day in 1...longest[month] where daysOfMonth & (1 << day) != 0 { return nil }
            days.append(month)
        }
        let names = days.map { monthNames[$0 - 1] }.joined(separator: ", ")
        return "no selected day of the month exists in \(names)"
    }

    func matchesMonth(_ month: Int) -> Bool { months & (1 << month) != 0 }
    func matchesHour(_ hour: Int) -> Bool { hours & (1 << hour) != 0 }
    func matchesMinute(_ minute: Int) -> Bool { minutes & (1 << minute) != 0 }

    func matchesDay(_ date: CivilDate) -> Bool {
        let dom = daysOfMonth & (1 << date.day) != 0
        let dow = daysOfWeek & (1 << date.weekday) != 0
        return daysMatchEither ? (dom || dow) : (dom && dow)
    }
}

extension String {
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" && $0 != "\n" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" && $0 != "\n" })
        else { return "" }
        return String(scalars[first...last])
    }
}
