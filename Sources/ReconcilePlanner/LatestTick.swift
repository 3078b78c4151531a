import Foundation
import ReconcileModel

extension CronSchedule {
    /// The newest fire time in `[notBefore, atOrBefore]`, found by looking back an hour, then eight
    /// times further each time: no walk over a minutely schedule's whole history, whatever the span.
    func latestFireTime(atOrBefore upper: Date, notBefore floor: Date, in zone: TimeZone) -> Date? {
        guard upper >= floor else { return nil }
        var window: TimeInterval = 3600
        while true {
            let lower = max(floor.addingTimeInterval(-1), upper.addingTimeInterval(-window))
            // Ticks are whole seconds and `after` is exclusive: the window starts a second early, and a
            // tick it finds before `floor` means there is none in range.
            if let tick = fireTimes(after: lower, through: upper, in: zone, limit: 100_000).last {
                return tick >= floor ? tick : nil
            }
            if lower <= floor.addingTimeInterval(-1) || window > 86_400 * 366 * 10 { return nil }
            window *= 8
        }
    }
}
