import Foundation
import ReconcileModel

/// The current state of one monitored thing (a check, a DAG, an App's rollout, a node, the commit),
/// as the controller read it this pass.
public struct Condition: Sendable, Hashable {
    /// Stable name of the thing, e.g. `check/collector-processing`, `dag/marketing-etl`, `node/a`.
    public var key: String
    public var failing: Bool
    /// What is wrong (while failing) or what it is (while passing), for the notice.
    public var summary: String
    /// Notifier names the thing's `alerts` list.
    public var notifiers: [String]
    /// How long the thing must pass before its incident resolves: a failure within it belongs to
    /// the same incident (flapping is one incident, not a storm).
    public var settle: Timespan

    public init(key: String, failing: Bool, summary: String, notifiers: [String], settle: Timespan = .zero) {
        self.key = key
        self.failing = failing
        self.summary = summary
        self.notifiers = notifiers
        self.settle = settle
    }
}

/// One incident: from the first failure of a thing until it has passed for its settle time.
public struct Incident: Sendable, Hashable, Codable {
    /// `<key>@<opened, seconds since 1970>`: stable across restarts, unique per incident.
    public var id: String
    public var key: String
    public var openedAt: Date
    public var summary: String
    public var notifiers: [String]
    /// Since when the thing has passed (the incident resolves once that lasts `settle`).
    public var passingSince: Date?
    public var settle: Timespan
    /// Times it failed again while settling.
    public var flaps: Int
    /// Per notifier: when it was last told (firing or repeat) and how many notices it got.
    public var lastNotified: [String: Date]
    public var notices: [String: Int]
    /// Notices held back by a silence, to be sent when the silence ends if still failing.
    public var heldBySilence: Bool

    public init(condition: Condition, now: Date) {
        id = "\(condition.key)@\(Int64(now.timeIntervalSince1970.rounded(.down)))"
        key = condition.key
        openedAt = now
        summary = condition.summary
        notifiers = condition.notifiers
        settle = condition.settle
        flaps = 0
        lastNotified = [:]
        notices = [:]
        heldBySilence = false
    }
}

/// A notice to deliver: written to the outbox in the same transaction as the incident's new state.
public struct Notice: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case firing, `repeat`, resolved
    }

    public var incidentID: String
    public var key: String
    public var notifier: String
    public var kind: Kind
    public var summary: String
    public var openedAt: Date
    public var at: Date
    /// `<incident id>/<notifier>/<n>`: the same notice has the same key however often it is
    /// computed, so the outbox stores it once and receivers can drop a repeat delivery.
    public var idempotencyKey: String

    public init(
        incidentID: String, key: String, notifier: String, kind: Kind, summary: String, openedAt: Date, at: Date,
        idempotencyKey: String
    ) {
        self.incidentID = incidentID
        self.key = key
        self.notifier = notifier
        self.kind = kind
        self.summary = summary
        self.openedAt = openedAt
        self.at = at
        self.idempotencyKey = idempotencyKey
    }
}

/// How each notifier wants to be told.
public struct NotifierPolicy: Sendable, Hashable {
    public var repeatInterval: Timespan
    public var sendResolved: Bool

    public init(repeatInterval: Timespan, sendResolved: Bool) {
        self.repeatInterval = repeatInterval
        self.sendResolved = sendResolved
    }
}

/// The incident state machine (pure; the clock is an argument). One incident per failing thing:
/// a notice to each of its notifiers when it opens, again every `repeatInterval` while it lasts,
/// and a resolved notice (when `sendResolved`) once it has passed for its settle time. A thing
/// gone from git resolves its incident with that reason. A silenced incident sends nothing; when
/// the silence ends while it still fails, it notifies at once.
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
                incident!.summary = condition.summary
                incident!.notifiers = condition.notifiers
                incident!.settle = condition.settle
                var current = incident!
                if silenced(condition.key) {
                    current.heldBySilence = true
                } else {
                    for name in current.notifiers {
                        guard let policy = notifiers[name] else { continue }
                        let due: Notice.Kind?
                        if let last = current.lastNotified[name] {
                            due =
                                current.heldBySilence || now.timeIntervalSince(last) >= policy.repeatInterval.seconds
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
            openedAt: incident.openedAt, at: now, idempotencyKey: "\(incident.id)/\(notifier)/\(number)")
    }
}
