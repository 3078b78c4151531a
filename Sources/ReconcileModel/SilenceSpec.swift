import Foundation

/// A silence kept in git (`kind: Silence`): incidents whose key matches one of its matchers (and its
/// severity, when given) tell no one while a window is open — a fixed window (`from`/`until`) or a
/// recurring one (a cron schedule and a duration, in a time zone) for planned maintenance. An
/// incident still failing when the window closes notifies at once.
public struct SilenceSpec: Sendable, Hashable {
    public struct Matcher: Sendable, Hashable {
        /// A glob over incident keys: `*` any run of characters, `?` one, e.g. `check/db-*`.
        public var incident: String
        /// Only incidents of this severity (nil: any).
        public var severity: Severity?

        public init(incident: String, severity: Severity? = nil) {
            self.incident = incident
            self.severity = severity
        }

        public func matches(key: String, severity: Severity) -> Bool {
            (self.severity.map { $0 == severity } ?? true) && Glob.matches(incident, key)
        }
    }

    public enum Window: Sendable, Hashable {
        case fixed(from: Date, until: Date)
        case recurring(schedule: CronSchedule, duration: Timespan, timezone: String)
    }

    public var name: String
    public var matchers: [Matcher]
    public var window: Window
    public var comment: String?

    public init(name: String, matchers: [Matcher], window: Window, comment: String? = nil) {
        self.name = name
        self.matchers = matchers
        self.window = window
        self.comment = comment
    }
}

/// `*` and `?` globs (no character classes): what incident keys are matched with.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var (pi, ti) = (0, 0)
        var star: Int?
        var mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if let star {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
