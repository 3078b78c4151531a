/// The name of a monitored thing, as incidents, silences and notices carry it: `check/NAME`,
/// `dag/NAME`, `deadline/DAG`, `queued/DAG`, `rollout/APP`, `pull/APP`, `crashloop/APP`,
/// `degraded/APP`, `unplaceable/APP`, `node/NAME` or `commit`. Built and read in this one place.
public enum ConditionKey: Sendable, Hashable, CustomStringConvertible {
    case check(String)
    case dag(String)
    case rollout(String)
    /// An App's image pulls keep failing.
    case pull(String)
    case node(String)
    case commit
    /// An App's replicas keep crashing.
    case crashloop(String)
    /// An App runs fewer ready replicas than it wants.
    case degraded(String)
    /// An App has replicas no node can take.
    case unplaceable(String)
    /// A DAG's run missed its deadline.
    case deadline(String)
    /// A DAG's task waits for room on the nodes.
    case queued(String)

    /// Every kind as the key's prefix.
    public static let kinds = [
        "check", "dag", "deadline", "queued", "rollout", "pull", "crashloop", "degraded", "unplaceable", "node",
    ]

    public var description: String {
        switch self {
        case .check(let name): "check/\(name)"
        case .dag(let name): "dag/\(name)"
        case .rollout(let app): "rollout/\(app)"
        case .pull(let app): "pull/\(app)"
        case .node(let name): "node/\(name)"
        case .commit: "commit"
        case .crashloop(let app): "crashloop/\(app)"
        case .degraded(let app): "degraded/\(app)"
        case .unplaceable(let app): "unplaceable/\(app)"
        case .deadline(let dag): "deadline/\(dag)"
        case .queued(let dag): "queued/\(dag)"
        }
    }

    /// A key as a person types it; a bare name is a check's. Nil for an unknown kind (`foo/bar`)
    /// or an empty name.
    public init?(parsing text: String) {
        if text == "commit" {
            self = .commit
            return
        }
        guard let slash = text.firstIndex(of: "/") else {
            guard !text.isEmpty else { return nil }
            self = .check(text)
            return
        }
        let kind = text[..<slash]
        let name = String(text[text.index(after: slash)...])
        guard !name.isEmpty else { return nil }
        switch kind {
        case "check": self = .check(name)
        case "dag": self = .dag(name)
        case "rollout": self = .rollout(name)
        case "pull": self = .pull(name)
        case "node": self = .node(name)
        case "crashloop": self = .crashloop(name)
        case "degraded": self = .degraded(name)
        case "unplaceable": self = .unplaceable(name)
        case "deadline": self = .deadline(name)
        case "queued": self = .queued(name)
        default: return nil
        }
    }
}
