/// Everything one commit of the manifest repository asks for, validated.
public struct DesiredState: Sendable, Hashable {
    public var nodes: [NodeSpec]
    public var apps: [AppSpec]
    public var dags: [DAGSpec]
    public var checks: [CheckSpec]
    public var notifiers: [NotifierSpec]
    public var registries: [RegistrySpec]
    public var volumes: [VolumeSpec]
    /// Silences kept in git.
    public var silences: [SilenceSpec]
    /// Caps on tasks running at once across DAGs.
    public var pools: [PoolSpec]
    /// Where each document starts, by kind and name.
    public var locations: [ResourceID: SourceLocation]

    public init(
        nodes: [NodeSpec] = [], apps: [AppSpec] = [], dags: [DAGSpec] = [], checks: [CheckSpec] = [],
        notifiers: [NotifierSpec] = [], registries: [RegistrySpec] = [], volumes: [VolumeSpec] = [],
        locations: [ResourceID: SourceLocation] = [:], silences: [SilenceSpec] = [], pools: [PoolSpec] = []
    ) {
        self.pools = pools
        self.silences = silences
        self.volumes = volumes
        self.registries = registries
        self.nodes = nodes
        self.apps = apps
        self.dags = dags
        self.checks = checks
        self.notifiers = notifiers
        self.locations = locations
    }

    /// True when the repository declares no Node: the implicit `local` node is used.
    public var usesImplicitLocalNode: Bool { nodes.isEmpty }
}

public enum Kind: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    case node = "Node"
    case app = "App"
    case dag = "DAG"
    case check = "Check"
    case notifier = "Notifier"
    case registry = "Registry"
    case volume = "Volume"
    case silence = "Silence"
    case pool = "Pool"

    public static func < (lhs: Kind, rhs: Kind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

public struct ResourceID: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var kind: Kind
    public var name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static func < (lhs: ResourceID, rhs: ResourceID) -> Bool { (lhs.kind, lhs.name) < (rhs.kind, rhs.name) }

    public var description: String { "\(kind.rawValue.lowercased()) \(name)" }
}
