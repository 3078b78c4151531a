import Foundation
import ReconcileModel

/// The incident state machine (pure; the clock is an argument). One incident per failing thing:
/// a notice to each of its notifiers when it opens, again every `repeatInterval` while it lasts,
/// and a resolved notice (when `sendResolved`) once it has passed for its settle time. A thing
/// gone from git resolves its incident with that reason. A silenced incident sends nothing; when
/// the silence ends while it still fails, it notifies at once.
///
/// A condition with a `fireAfter` opens a pending incident that tells no one until it has failed
/// that long (Prometheus' `for:`); it ends silently when it passes first. Each notifier hears only
/// incidents at or above its `minSeverity`; one that rises from warning to critical notifies again
/// (`escalated`), and a notifier that skipped the warning hears it fire.
public enum IncidentMachine {
    public struct Step: Sendable, Hashable {
        /// Incidents still open (save them).
        public var open: [Incident]
        /// Incidents that ended this step (remove them).
        public var resolved: [Incident]
        public var notices: [Notice]
    }

    /// - Parameters:
    ///   - silences: key -> end of its silence.
    public static func step(
        incidents: [Incident], conditions: [Condition], silences: [String: Date],
        notifiers: [String: NotifierPolicy], now: Date
    ) -> Step {
        var byKey = Dictionary(incidents.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var step = Step(open: [], resolved: [], notices: [])
        let silenced = { (key: String) in (silences[key].map { $0 > now }) ?? false }
        for condition in conditions.sorted(by: { $0.key < $1.key }) {
            var incident = byKey.removeValue(forKey: condition.key)
            if condition.failing {
                if incident == nil {
                    incident = Incident(condition: condition, now: now)
                } else if incident!.passingSince != nil {
                    incident!.passingSince = nil
                    incident!.flaps += 1
                }
                var current = incident!
                let before = current.severity
                current.summary = condition.summary
                current.notifiers = condition.notifiers
                current.settle = condition.settle
                current.severity = condition.severity
                // Pending until it has failed for `fireAfter`: nobody is told yet.
                if let pending = current.pendingSince {
                    guard now.timeIntervalSince(pending) >= condition.fireAfter.seconds else {
                        step.open.append(current)
                        continue
                    }
                    current.pendingSince = nil
                }
                let escalated = before < current.severity
                if silenced(condition.key) {
                    current.heldBySilence = true
                } else {
                    for name in current.notifiers {
                        guard let policy = notifiers[name], current.severity >= policy.minSeverity else { continue }
                        let due: Notice.Kind?
                        if let last = current.lastNotified[name] {
                            due =
                                escalated
                                ? .escalated
                                : current.heldBySilence || now.timeIntervalSince(last) >= policy.repeatInterval.seconds
                                    ? .repeat : nil
                        } else {
                            due = .firing
                        }
                        guard let kind = due else { continue }
                        step.notices.append(notice(kind, for: current, to: name, summary: condition.summary, now: now))
                        current.lastNotified[name] = now
                        current.notices[name, default: 0] += 1
                    }
                    current.heldBySilence = false
                }
                step.open.append(current)
            } else if var current = incident {
                // One that never fired ends as it came: silently.
                if !current.isFiring {
                    step.resolved.append(current)
                    continue
                }
                let since = current.passingSince ?? now
                current.passingSince = since
                if now.timeIntervalSince(since) >= condition.settle.seconds {
                    step.notices += resolve(current, summary: condition.summary, notifiers: notifiers, now: now)
                    step.resolved.append(current)
                } else {
                    step.open.append(current)
                }
            }
        }
        // Things no longer in git (or no longer observed): their incidents end.
        for current in byKey.values.sorted(by: { $0.key < $1.key }) {
            step.notices += resolve(
                current, summary: "\(current.key) was removed from git", notifiers: notifiers, now: now)
            step.resolved.append(current)
        }
        return step
    }

    private static func resolve(
        _ incident: Incident, summary: String, notifiers: [String: NotifierPolicy], now: Date
    ) -> [Notice] {
        // Only notifiers that were told it fired hear that it ended.
        incident.notifiers.filter { incident.lastNotified[$0] != nil && notifiers[$0]?.sendResolved == true }.map {
            notice(.resolved, for: incident, to: $0, summary: summary, now: now)
        }
    }

    private static func notice(
        _ kind: Notice.Kind, for incident: Incident, to notifier: String, summary: String, now: Date
    )
        -> Notice
    {
        let number = kind == .resolved ? "resolved" : String((incident.notices[notifier] ?? 0) + 1)
        return Notice(
            incidentID: incident.id, key: incident.key, notifier: notifier, kind: kind, summary: summary,
            openedAt: incident.openedAt, at: now, idempotencyKey: "\(incident.id)/\(notifier)/\(number)",
            severity: incident.severity)
    }
}
