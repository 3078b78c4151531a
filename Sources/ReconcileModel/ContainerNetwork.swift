/// The network a container joins on a Docker node (`network:` on an App or a task). Process nodes
/// always use the host's network.
public enum ContainerNetwork: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The engine's default bridge network: outbound traffic works, ports are published.
    case bridge
    /// No network at all (loopback only).
    case none
    /// The node's own network stack (no isolation; ports are not published, the process binds them).
    case host
    /// A Docker network that already exists on the node (created outside reconcile).
    case named(String)

    public init(_ text: String) {
        switch text {
        case "bridge", "default": self = .bridge
        case "none": self = .none
        case "host": self = .host
        default: self = .named(text)
        }
    }

    public var description: String {
        switch self {
        case .bridge: "bridge"
        case .none: "none"
        case .host: "host"
        case .named(let name): name
        }
    }

    /// The named network a node must have, if any.
    public var requiredNetwork: String? { if case .named(let name) = self { name } else { nil } }
}
