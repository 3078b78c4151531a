import Foundation

/// What a check's results add up to (pure): soft failures until `failAfter` in a row make it
/// failing (hard), and `passAfter` passes in a row make it passing again.
public struct CheckState: Sendable, Hashable, Codable {
    public var failing = false
    public var failuresInARow = 0
    public var passesInARow = 0
    /// The last result's message (a probe's answer, a command's output).
    public var message = ""
    public var lastRun: Date?
    /// For a log check: the last time the pattern was seen.
    public var lastMatch: Date?
    /// How bad the last failure was (a Nagios command's WARNING or CRITICAL); nil: critical.
    public var severity: Severity?

    public init() {}

    public mutating func record(passed: Bool, message: String, at time: Date, failAfter: Int, passAfter: Int) {
        self.message = message
        lastRun = time
        if passed {
            passesInARow += 1
            failuresInARow = 0
            if failing && passesInARow >= max(1, passAfter) { failing = false }
        } else {
            failuresInARow += 1
            passesInARow = 0
            if !failing && failuresInARow >= max(1, failAfter) { failing = true }
        }
    }

    /// True when the check is due at `now` (never run, or `interval` since the last run).
    public func isDue(interval: Timespan, now: Date) -> Bool {
        lastRun.map { now.timeIntervalSince($0) >= interval.seconds } ?? true
    }
}
