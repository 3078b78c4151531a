import Foundation

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
    /// How bad it is while failing.
    public var severity: Severity
    /// How long it must fail before its incident fires (until then it is pending and tells no one;
    /// one that passes meanwhile ends silently).
    public var fireAfter: Timespan

    public init(
        key: String, failing: Bool, summary: String, notifiers: [String], settle: Timespan = .zero,
        severity: Severity = .critical, fireAfter: Timespan = .zero
    ) {
        self.severity = severity
        self.fireAfter = fireAfter
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
    /// The current severity (nil in incidents stored before severities: critical).
    public var storedSeverity: Severity?
    /// True while the condition has failed for less than its `fireAfter` (nil: firing).
    public var pendingSince: Date?
    /// The silence that mutes it now (a Silence's name in git, or `cli`), and until when.
    public var silencedBy: String?
    public var silencedUntil: Date?

    public var severity: Severity {
        get { storedSeverity ?? .critical }
        set { storedSeverity = newValue }
    }

    /// Firing: it has failed for its `fireAfter`; notices go out.
    public var isFiring: Bool { pendingSince == nil }

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
        storedSeverity = condition.severity
        pendingSince = condition.fireAfter.milliseconds > 0 ? now : nil
    }
}

/// A notice to deliver: written to the outbox in the same transaction as the incident's new state.
public struct Notice: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case firing, `repeat`, resolved
        /// It rose from warning to critical.
        case escalated
        /// A one-off notice (an App's rollout completed or was rolled back): no incident behind it.
        case info
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
    /// The incident's severity when the notice was made (nil in notices stored before severities).
    public var severity: Severity?

    public init(
        incidentID: String, key: String, notifier: String, kind: Kind, summary: String, openedAt: Date, at: Date,
        idempotencyKey: String, severity: Severity? = nil
    ) {
        self.severity = severity
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
    /// Incidents below this are not sent to it.
    public var minSeverity: Severity

    public init(repeatInterval: Timespan, sendResolved: Bool, minSeverity: Severity = .warning) {
        self.minSeverity = minSeverity
        self.repeatInterval = repeatInterval
        self.sendResolved = sendResolved
    }
}
