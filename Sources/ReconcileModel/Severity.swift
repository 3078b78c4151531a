/// How bad an incident is. A notifier with `minSeverity: critical` hears only critical ones; an
/// incident that rises from warning to critical notifies again.
public enum Severity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case warning
    case critical

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .warning && rhs == .critical }
}

/// The one-off notices an App can ask for when a rollout ends (not incidents: nothing to resolve).
public enum DeployEvent: String, Sendable, Hashable, Codable, CaseIterable {
    case deployed
    case rolledBack
}
