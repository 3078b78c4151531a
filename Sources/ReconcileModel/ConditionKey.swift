/// The name of a monitored thing, as incidents, silences and notices carry it: `check/NAME`,
/// `dag/NAME`, `rollout/APP`, `pull/APP`, `node/NAME` or `commit`. Built and read in this one place.
public enum ConditionKey: Sendable, Hashable, CustomStringConvertible {
    case check(String)
    case dag(String)
    case rollout(String)
    /// An App's image pulls keep failing.
    case pull(String)
    case node(String)
    case commit

    public var description: String {
        switch self {
        case .check(let name): "check/\(name)"
        case .dag(let name): "dag/\(name)"
        case .rollout(let app): "rollout/\(app)"
        case .pull(let app): "pull/\(app)"
        case .node(let name): "node/\(name)"
        case .commit: "commit"
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
        default: return nil
        }
    }
}
