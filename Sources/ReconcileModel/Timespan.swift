/// A manifest duration such as `30s`, `5m`, `1h30m`, `2d` or `500ms`, held in milliseconds.
///
/// Units are `d`, `h`, `m`, `s` and `ms`, written largest first, each at most once. Bare numbers
/// are rejected: `30` could mean seconds or minutes, so the unit is always required.
public struct Timespan: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ value: Int64) -> Timespan { Timespan(milliseconds: value * 1000) }
    public static func minutes(_ value: Int64) -> Timespan { .seconds(value * 60) }
    public static func hours(_ value: Int64) -> Timespan { .minutes(value * 60) }
    public static let zero = Timespan(milliseconds: 0)

    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (lhs: Timespan, rhs: Timespan) -> Bool { lhs.milliseconds < rhs.milliseconds }

    static let units: [(suffix: String, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1),
    ]

    /// Parses the manifest form.
    /// - Throws: `ValueError` naming what is wrong and showing valid forms.
    public init(parsing text: String) throws(ValueError) {
        let hint = "write a number with a unit, e.g. 30s, 5m, 1h30m, 2d or 500ms"
        let chars = Array(text.utf8)
        guard !chars.isEmpty else { throw ValueError("empty duration; \(hint)") }
        var index = 0
        var total: Int64 = 0
        var lastUnitRank = -1
        while index < chars.count {
            let start = index
            var number: Int64 = 0
            while index < chars.count, chars[index] >= 0x30, chars[index] <= 0x39 {
                let (product, overflow1) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = product.addingReportingOverflow(Int64(chars[index] - 0x30))
                guard !overflow1, !overflow2 else {
                    throw ValueError("duration \"\(text)\" is too large", offset: start)
                }
                number = sum
                index += 1
            }
            guard index > start else {
                throw ValueError(
                    "invalid duration \"\(text)\": expected a number at position \(start + 1); \(hint)", offset: start)
            }
            var unitEnd = index
            while unitEnd < chars.count, chars[unitEnd] >= 0x61, chars[unitEnd] <= 0x7A { unitEnd += 1 }
            let unit = String(decoding: chars[index..<unitEnd], as: UTF8.self)
            if unitEnd < chars.count, chars[unitEnd] == 0x2E {
                throw ValueError(
                    "duration \"\(text)\" has a fraction; write whole units instead, e.g. 1h30m for 1.5h",
                    offset: unitEnd)
            }
            guard !unit.isEmpty else {
                throw ValueError("duration \"\(text)\" needs a unit; \(hint)", offset: start)
            }
            guard let rank = Self.units.firstIndex(where: { $0.suffix == unit }) else {
                throw ValueError(
                    "unknown duration unit \"\(unit)\" in \"\(text)\"; units are d, h, m, s, ms", offset: index)
            }
            guard rank > lastUnitRank else {
                throw ValueError(
                    "duration \"\(text)\": units must go from largest to smallest, each once (e.g. 1h30m)",
                    offset: index)
            }
            lastUnitRank = rank
            let (part, overflow1) = number.multipliedReportingOverflow(by: Self.units[rank].milliseconds)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow1, !overflow2 else { throw ValueError("duration \"\(text)\" is too large", offset: start) }
            total = sum
            index = unitEnd
        }
        self.milliseconds = total
    }

    /// The canonical manifest form, e.g. `1h30m`, `0s`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var out = milliseconds < 0 ? "-" : ""
        rest = Swift.abs(rest)
        for (suffix, size) in Self.units where rest >= size {
            out += "\(rest / size)\(suffix)"
            rest %= size
        }
        return out
    }
}
