import Foundation
import ReconcileModel

/// What the planner and executor need from a node: see and change what runs there.
///
/// Implementations: `DockerDriver` (Docker Engine API), and in tests `InMemoryDriver`. All of them
/// pass the same conformance suite (`ReconcileTesting.DriverConformance`). Only containers carrying
/// the management label are ever listed; a caller acts on ids it got from `list` or `run`.
public protocol ContainerDriver: Sendable {
    /// The node's name, for messages.
    var node: String { get }
    /// Capacity and reachability. Throws `DriverError` with kind `.unreachable` when the node does not answer.
    func info() async throws -> NodeInfo
    /// The containers this project owns on the node (by the management label), running or not.
    func list() async throws -> [ContainerInfo]
    /// Creates and starts a container. A container that was created but could not start is removed.
    func run(_ spec: ContainerSpec) async throws -> ContainerInfo
    /// Stops with SIGTERM, then SIGKILL after `grace`. Stopping a stopped or missing container is not an error.
    func stop(_ id: String, grace: Timespan) async throws
    /// Removes a container (stopping it first if needed). Removing a missing container is not an error.
    func remove(_ id: String) async throws
    /// Full state of one container, or nil when it does not exist.
    func inspect(_ id: String) async throws -> ContainerInfo?
    /// The full state of a container a listing summarised (see `listsFullState`).
    func fullState(of listed: ContainerInfo) async throws -> ContainerInfo?
    /// Output lines with their timestamps, oldest first; only lines at or after `since` when given.
    func logs(_ id: String, since: Date?) async throws -> [LogLine]
    /// Runs argv inside a running container (on a process node: on the host, with the container's
    /// environment) and returns its exit code. Throws `DriverError` (kind `.engine`) when it
    /// runs longer than `timeout`, and `.notFound` when the container does not exist.
    func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int
    /// Deletes a named volume and its data on the node. Deleting a missing volume is not an error;
    /// one a container still uses is (`.conflict`).
    func removeVolume(_ name: String) async throws
    /// The named volumes this project made on the node (as `ContainerMount.Source.volume` names them).
    func volumes() async throws -> [String]
    /// True when the image is present on the node.
    func hasImage(_ image: String) async throws -> Bool
    /// Pulls an image, with registry credentials when given.
    func pull(_ image: String, auth: RegistryAuth?) async throws
    /// The names of the networks containers can join on the node; nil where `network:` does not
    /// apply (process nodes use the host's network).
    func networks() async throws -> Set<String>?
    /// Notices of containers exiting on the node, when the driver can push them; nil when not.
    func exitNotices() -> ExitNotices?
    /// A value that changes whenever the container's output grows or rotates, read without reading
    /// the output (its files' sizes); nil when the driver has none, and then a collector reads the
    /// output every round.
    func outputMark(_ id: String) async -> [Int64]?
    /// The bytes the container wrote to `$RECONCILE_OUTPUTS` (at most `limit` + 1, so a larger file is
    /// seen as such); nil when it wrote none.
    func outputs(_ id: String, limit: Int) async throws -> [UInt8]?
    /// True when `list` returns each container's full state (as `inspect` would), so callers need
    /// not inspect them one by one.
    var listsFullState: Bool { get }
    /// True for nodes that run images (Docker); process nodes run commands and pull nothing.
    var runsImages: Bool { get }
}

extension ContainerDriver {
    /// Notices of containers exiting on the node, when the driver can push them (process nodes);
    /// nil when a caller has to poll.
    public func exitNotices() -> ExitNotices? { nil }
    public func outputMark(_ id: String) async -> [Int64]? { nil }
    public func outputs(_ id: String, limit: Int) async throws -> [UInt8]? { nil }

    public func networks() async throws -> Set<String>? { nil }

    public var listsFullState: Bool { false }

    /// The full state of a container a listing summarised: as listed when the listing is full,
    /// else read (`inspect`).
    public func fullState(of listed: ContainerInfo) async throws -> ContainerInfo? {
        listsFullState ? listed : try await inspect(listed.id)
    }

    public var runsImages: Bool { true }
}

/// The label every container this project creates carries; listing filters on it.
public enum ManagementLabel {
    public static let key = "io.reconcile.managed"
    public static let value = "true"
}

public struct NodeInfo: Sendable, Hashable {
    public var capacity: Resources
    /// Engine or host description, e.g. "docker 20.10.24 (API 1.41)".
    public var engine: String

    public init(capacity: Resources, engine: String) {
        self.capacity = capacity
        self.engine = engine
    }
}

/// What to run: an image and/or argv, environment, hard resource limits, ports and labels.
public struct ContainerSpec: Sendable, Hashable {
    public var name: String
    public var image: String?
    public var command: [String]?
    public var env: [String: String]
    public var resources: Resources
    /// Ports the process listens on; each gets a dynamic host port.
    public var ports: [Int]
    public var labels: [String: String]
    /// The network on a Docker node (process nodes use the host's).
    public var network: ContainerNetwork
    /// Files written into the container before it starts (Docker: uploaded into the created
    /// container; process nodes: under the process's `$FILES`).
    public var files: [ContainerFile]
    /// Volumes mounted (Docker: volumes and bind mounts; process nodes: links under `$FILES`).
    public var mounts: [ContainerMount]
    /// Give the process `$RECONCILE_OUTPUTS`, a file it may write `KEY=VALUE` lines to (read back
    /// with `outputs(_:)` once it exited).
    public var collectsOutputs: Bool

    public init(
        name: String, image: String? = nil, command: [String]? = nil, env: [String: String] = [:],
        resources: Resources = .defaultRequest, ports: [Int] = [], labels: [String: String] = [:],
        network: ContainerNetwork = .bridge, files: [ContainerFile] = [], mounts: [ContainerMount] = [],
        collectsOutputs: Bool = false
    ) {
        self.collectsOutputs = collectsOutputs
        self.files = files
        self.mounts = mounts
        self.network = network
        self.name = name
        self.image = image
        self.command = command
        self.env = env
        self.resources = resources
        self.ports = ports
        self.labels = labels
    }
}

/// A volume as a driver mounts it.
public struct ContainerMount: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        /// A named volume of the node (created when missing).
        case volume(String)
        /// A folder of the node.
        case hostPath(String)
    }

    public var source: Source
    public var target: String
    public var readOnly: Bool

    public init(source: Source, target: String, readOnly: Bool = false) {
        self.source = source
        self.target = target
        self.readOnly = readOnly
    }
}

public struct ContainerInfo: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case created, running, exited, unknown
    }

    public var id: String
    public var name: String
    public var labels: [String: String]
    public var status: Status
    /// Set once the container has exited.
    public var exitCode: Int?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The kernel killed it for exceeding its memory limit.
    public var oomKilled: Bool
    /// Container port -> host port on `hostAddress`.
    public var ports: [Int: Int]
    public var hostAddress: String
    /// When the container was created (as the node records it), so a start interrupted between
    /// create and start is recognised as abandoned by whichever controller looks, however often
    /// controllers restart.
    public var createdAt: Date?

    public init(
        id: String, name: String, labels: [String: String], status: Status, exitCode: Int? = nil,
        startedAt: Date? = nil, finishedAt: Date? = nil, oomKilled: Bool = false, ports: [Int: Int] = [:],
        hostAddress: String = "127.0.0.1", createdAt: Date? = nil
    ) {
        self.createdAt = createdAt
        self.id = id
        self.name = name
        self.labels = labels
        self.status = status
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.oomKilled = oomKilled
        self.ports = ports
        self.hostAddress = hostAddress
    }
}

public struct LogLine: Sendable, Hashable {
    public enum Stream: String, Sendable, Hashable {
        case stdout, stderr
    }

    public var time: Date
    public var stream: Stream
    public var text: String

    public init(time: Date, stream: Stream, text: String) {
        self.time = time
        self.stream = stream
        self.text = text
    }
}

/// Registry credentials; the password is a secret reference, read when pulling and never stored.
public struct RegistryAuth: Sendable, Hashable {
    public var username: String
    public var password: SecretReference
    public var server: String

    public init(username: String, password: SecretReference, server: String) {
        self.username = username
        self.password = password
        self.server = server
    }
}

/// A driver failure: what kind, on which node, doing what, and the engine's own message.
public struct DriverError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The node did not answer within the timeout, or refused the connection.
        case unreachable
        /// A container or image of that name already exists.
        case conflict
        /// The container or image does not exist.
        case notFound
        /// The spec cannot run on this node (e.g. no image on a Docker node).
        case invalidSpec
        /// The engine refused the request; `message` is its own explanation.
        case engine
    }

    public var kind: Kind
    public var node: String
    public var operation: String
    public var message: String

    public init(_ kind: Kind, node: String, operation: String, message: String) {
        self.kind = kind
        self.node = node
        self.operation = operation
        self.message = message
    }

    public var description: String { "node \(node): \(operation): \(message)" }
}
