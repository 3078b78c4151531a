import Foundation
import ReconcileModel

/// Which due notices go out now, and together (pure): per notifier, everything due goes as one
/// message, but only once its oldest first-time notice has waited the notifier's `groupWait` (so
/// notices that come due meanwhile join it; Alertmanager's `group_wait`). Retries do not wait.
public enum NoticeGroups {
    public struct Pending: Sendable, Hashable {
        public var notice: Notice
        /// Delivery attempts so far (0: never tried).
        public var attempts: Int

        public init(notice: Notice, attempts: Int) {
            self.notice = notice
            self.attempts = attempts
        }
    }

    /// The groups to send now, by notifier name order; each keeps the outbox's order.
    public static func ready(_ due: [Pending], groupWait: [String: Timespan], now: Date) -> [[Pending]] {
        var groups: [[Pending]] = []
        for (notifier, pending) in Dictionary(grouping: due, by: \.notice.notifier).sorted(by: { $0.key < $1.key }) {
            let wait = groupWait[notifier] ?? .zero
            if let oldest = pending.filter({ $0.attempts == 0 }).map(\.notice.at).min(),
                now.timeIntervalSince(oldest) < wait.seconds
            {
                continue
            }
            groups.append(pending)
        }
        return groups
    }
}
