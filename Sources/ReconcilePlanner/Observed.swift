import Foundation
import ReconcileModel

/// What runs, as the planner sees it: nodes and the containers this project owns, with the facts
/// the controller read from the engines and the store. Plain values; the planner does no I/O.
public struct Observed: Sendable, Hashable {
    public var nodes: [ObservedNode]
    public var containers: [ObservedContainer]

    public init(nodes: [ObservedNode], containers: [ObservedContainer] = []) {
        self.nodes = nodes
        self.containers = containers
    }
}

public struct ObservedNode: Sendable, Hashable {
    public var name: String
    public var capacity: Resources
    public var labels: [String: String]
    /// Docker nodes run images; process nodes run commands.
    public var isProcessNode: Bool
    /// When the node stopped answering; nil while it answers.
    public var unreachableSince: Date?
    /// What running DAG tasks take on the node: replicas are placed in the room left.
    public var tasks: Resources
    /// False while the node is drained (or not schedulable in git): nothing new is placed there and
    /// its replicas are replaced elsewhere.
    public var schedulable: Bool
    /// When replicas still on a draining node are stopped whether or not their replacements are ready.
    public var drainDeadline: Date?
    /// The Docker networks the node has, when some workload asks for a named one (nil: not read).
    public var networks: Set<String>?

    public init(
        name: String, capacity: Resources, labels: [String: String] = [:], isProcessNode: Bool = false,
        unreachableSince: Date? = nil, tasks: Resources = .zero, schedulable: Bool = true,
        drainDeadline: Date? = nil, networks: Set<String>? = nil
    ) {
        self.schedulable = schedulable
        self.drainDeadline = drainDeadline
        self.networks = networks
        self.tasks = tasks
        self.name = name
        self.capacity = capacity
        self.labels = labels
        self.isProcessNode = isProcessNode
        self.unreachableSince = unreachableSince
    }
}

/// One replica container of an App, identified by its labels (app, slot, spec hash).
public struct ObservedContainer: Sendable, Hashable, Codable {
    public enum Status: Sendable, Hashable, Codable {
        case running
        case exited(code: Int, at: Date)
    }

    public var id: String
    public var node: String
    public var app: String
    public var slot: Int
    public var specHash: String
    public var resources: Resources
    public var status: Status
    /// Passed its health check (or has none) since this instant; nil while not ready.
    public var readySince: Date?
    /// When the container started (image pull excluded), for the rollout progress deadline.
    public var startedAt: Date?
    /// How many times this slot was restarted after a crash before this container (crash-loop backoff).
    public var restarts: Int
    /// It exited because the kernel killed it for going over its memory limit.
    public var outOfMemory: Bool

    public init(
        id: String, node: String, app: String, slot: Int, specHash: String, resources: Resources,
        status: Status = .running, readySince: Date? = nil, startedAt: Date? = nil, restarts: Int = 0,
        outOfMemory: Bool = false
    ) {
        self.outOfMemory = outOfMemory
        self.startedAt = startedAt
        self.restarts = restarts
        self.id = id
        self.node = node
        self.app = app
        self.slot = slot
        self.specHash = specHash
        self.resources = resources
        self.status = status
        self.readySince = readySince
    }

    public var isRunning: Bool { if case .running = status { true } else { false } }

    // Written by the synthesized `encode(to:)`; read here so that replicas stored before
    // `outOfMemory` existed (the controller's last-seen replicas of silent nodes) still decode.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        id = try values.decode(String.self, forKey: .id)
        node = try values.decode(String.self, forKey: .node)
        app = try values.decode(String.self, forKey: .app)
        slot = try values.decode(Int.self, forKey: .slot)
        specHash = try values.decode(String.self, forKey: .specHash)
        resources = try values.decode(Resources.self, forKey: .resources)
        status = try values.decode(Status.self, forKey: .status)
        readySince = try values.decodeIfPresent(Date.self, forKey: .readySince)
        startedAt = try values.decodeIfPresent(Date.self, forKey: .startedAt)
        restarts = try values.decode(Int.self, forKey: .restarts)
        outOfMemory = try values.decodeIfPresent(Bool.self, forKey: .outOfMemory) ?? false
    }
}
