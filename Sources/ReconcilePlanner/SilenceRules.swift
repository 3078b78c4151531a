import Foundation
import ReconcileModel

/// Which incidents the silences in git mute now (pure), and until when.
public enum SilenceRules {
    public struct Mute: Sendable, Hashable {
        public var until: Date
        /// The silence's name.
        public var by: String

        public init(until: Date, by: String) {
            self.until = until
            self.by = by
        }
    }

    /// When `silence`'s current window ends, if one is open at `now`.
    public static func openUntil(_ silence: SilenceSpec, now: Date) -> Date? {
        switch silence.window {
        case .fixed(let from, let until):
            return from <= now && now < until ? until : nil
        case .recurring(let schedule, let duration, let timezone):
            let zone = TimeZone(identifier: timezone) ?? TimeZone(identifier: "UTC")!
            // The newest start within one duration of now: its window is open.
            let start = schedule.latestFireTime(
                atOrBefore: now, notBefore: now.addingTimeInterval(-duration.seconds).addingTimeInterval(0.001),
                in: zone)
            return start.map { $0.addingTimeInterval(duration.seconds) }
        }
    }

    /// Per condition key: the silence that mutes it now (the one whose window ends last).
    public static func mutes(_ silences: [SilenceSpec], conditions: [Condition], now: Date) -> [String: Mute] {
        var mutes: [String: Mute] = [:]
        for silence in silences {
            guard let until = openUntil(silence, now: now) else { continue }
            for condition in conditions
            where silence.matchers.contains(where: { $0.matches(key: condition.key, severity: condition.severity) }) {
                if let current = mutes[condition.key], current.until >= until { continue }
                mutes[condition.key] = Mute(until: until, by: silence.name)
            }
        }
        return mutes
    }

    /// The next window of each silence that is not open now (for `alerts list`).
    public static func nextOpening(_ silence: SilenceSpec, after now: Date) -> Date? {
        switch silence.window {
        case .fixed(let from, _): return from > now ? from : nil
        case .recurring(let schedule, _, let timezone):
            return schedule.nextFireTime(after: now, in: TimeZone(identifier: timezone) ?? TimeZone(identifier: "UTC")!)
        }
    }
}
