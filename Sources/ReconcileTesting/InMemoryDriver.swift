import Foundation
import ReconcileDrivers
import ReconcileModel

/// A `ContainerDriver` in memory, for planner and executor tests and fault injection. It passes the
/// same conformance suite as the real drivers, with its own tiny command language:
/// `fake:sleep` runs until stopped; `fake:exit N` exits with N; `fake:print A B ...` prints each
/// argument as a line and exits 0; `fake:oom` is killed for exceeding its memory limit (exit 137).
public actor InMemoryDriver: ContainerDriver {
    public nonisolated let node: String
    let capacity: Resources
    private var containers: [String: Entry] = [:] {
        didSet { lastListing = nil }
    }
    /// The last listing, answered again until a container changes (as a Docker engine's listing is
    /// kept until its event stream hears a change): the same array, which a pass's
    /// `ObservationMemory` recognises.
    private var lastListing: [ContainerInfo]?
    private var images: Set<String>
    private var nextPort = 40000
    /// While set, every call fails as if the node were unreachable.
    public var unreachable = false
    /// How many times the node was listed and asked for its info (a test of who observes it).
    public private(set) var listings = 0
    public private(set) var infos = 0
    /// Images a pull can fetch, with the user name the fake registry asks for (nil: public).
    private var registry: [String: String?] = [:]
    /// Every pull asked for, in order, with the user name sent (or nil).
    public private(set) var pulls: [(image: String, username: String?)] = []

    struct Entry {
        var info: ContainerInfo
        var logs: [LogLine]
        var outputs: [UInt8]? = nil
    }

    /// Whether a listing carries each container's full state (as the process driver's does); when
    /// false, the caller must inspect each container, as with Docker's summary listing.
    public nonisolated let listsFullState: Bool
    /// How long each call to the engine takes before it answers (the scale benchmark gives the fake a
    /// real engine's round trip); zero by default.
    private var latency: Duration = .zero

    public init(node: String, capacity: Resources, images: Set<String> = [], listsFullState: Bool = true) {
        self.node = node
        self.capacity = capacity
        self.images = images
        self.listsFullState = listsFullState
    }

    public func setLatency(_ value: Duration) { latency = value }

    private func roundTrip() async {
        if latency > .zero { try? await Task.sleep(for: latency) }
    }

    public func setUnreachable(_ value: Bool) { unreachable = value }

    /// The Docker networks the fake node reports (nil: like a process node, networks do not apply).
    private var dockerNetworks: Set<String>?

    public func setNetworks(_ names: Set<String>?) { dockerNetworks = names }

    public func networks() async throws -> Set<String>? {
        try reachable("list networks")
        return dockerNetworks
    }

    /// Makes `image` pullable, for anyone (`username` nil) or only with that user's credentials.
    public func publish(_ image: String, username: String? = nil) { registry[image] = .some(username) }

    private func reachable(_ operation: String) throws {
        if unreachable {
            throw DriverError(.unreachable, node: node, operation: operation, message: "injected: node unreachable")
        }
    }

    public func info() async throws -> NodeInfo {
        await roundTrip()
        try reachable("read node info")
        infos += 1
        return NodeInfo(capacity: capacity, engine: "in-memory")
    }

    public func list() async throws -> [ContainerInfo] {
        await roundTrip()
        try reachable("list containers")
        listings += 1
        if let lastListing { return lastListing }
        let listing = containers.values.map(\.info).filter { $0.labels[ManagementLabel.key] == ManagementLabel.value }
            .sorted { $0.name < $1.name }
        lastListing = listing
        return listing
    }

    public func run(_ spec: ContainerSpec) async throws -> ContainerInfo {
        let operation = "run container \(spec.name)"
        try reachable(operation)
        guard spec.image == nil || images.contains(spec.image!) else {
            throw DriverError(.notFound, node: node, operation: operation, message: "No such image: \(spec.image!)")
        }
        guard !containers.values.contains(where: { $0.info.name == spec.name }) else {
            throw DriverError(.conflict, node: node, operation: operation, message: "name \(spec.name) is in use")
        }
        let now = Date()
        var labels = spec.labels
        labels[ManagementLabel.key] = ManagementLabel.value
        var ports: [Int: Int] = [:]
        for port in spec.ports {
            ports[port] = nextPort
            nextPort += 1
        }
        var info = ContainerInfo(
            id: UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""), name: spec.name, labels: labels,
            status: .running, startedAt: now, ports: ports, createdAt: now)
        var logs: [LogLine] = []
        var outputs: [UInt8]?
        let command = spec.command ?? []
        switch command.first {
        case "fake:exit":
            info.status = .exited
            info.exitCode = command.count > 1 ? Int(command[1]) ?? 1 : 0
            info.finishedAt = now
        case "fake:print":
            logs = command.dropFirst().map { LogLine(time: now, stream: .stdout, text: $0) }
            info.status = .exited
            info.exitCode = 0
            info.finishedAt = now
        case "fake:outputs" where spec.collectsOutputs:
            // Writes its arguments as lines to $RECONCILE_OUTPUTS and exits 0.
            outputs = Array(command.dropFirst().map { $0 + "\n" }.joined().utf8)
            info.status = .exited
            info.exitCode = 0
            info.finishedAt = now
        case "fake:oom":
            info.status = .exited
            info.exitCode = 137
            info.oomKilled = true
            info.finishedAt = now
        default:
            break  // fake:sleep and anything else keep running until stopped
        }
        containers[info.id] = Entry(info: info, logs: logs, outputs: outputs)
        return info
    }

    public func outputs(_ id: String, limit: Int) async throws -> [UInt8]? {
        try reachable("read outputs of \(id)")
        return containers[id]?.outputs.map { Array($0.prefix(limit + 1)) }
    }

    /// Adds a container without the management label, as if someone started it by hand.
    public func addForeignContainer(name: String) -> String {
        let id = UUID().uuidString
        containers[id] = Entry(info: ContainerInfo(id: id, name: name, labels: [:], status: .running), logs: [])
        return id
    }

    /// Adds a container that was created (at `createdAt`, when known) and never started, as an engine
    /// keeps one when its creator died between create and start.
    public func addCreatedContainer(_ spec: ContainerSpec, createdAt: Date? = nil) -> String {
        let id = UUID().uuidString
        var labels = spec.labels
        labels[ManagementLabel.key] = ManagementLabel.value
        containers[id] = Entry(
            info: ContainerInfo(id: id, name: spec.name, labels: labels, status: .created, createdAt: createdAt),
            logs: [])
        return id
    }

    public func stop(_ id: String, grace: Timespan) async throws {
        try reachable("stop container \(id)")
        guard var entry = containers[id], entry.info.status == .running else { return }
        entry.info.status = .exited
        entry.info.exitCode = 143
        entry.info.finishedAt = Date()
        containers[id] = entry
    }

    public func remove(_ id: String) async throws {
        try reachable("remove container \(id)")
        containers[id] = nil
    }

    /// Adds output lines to a container, as its process would print them.
    public func appendLog(_ id: String, _ lines: [LogLine]) {
        containers[id]?.logs += lines
    }

    public func inspect(_ id: String) async throws -> ContainerInfo? {
        await roundTrip()
        try reachable("inspect container \(id)")
        return containers[id]?.info
    }

    public func logs(_ id: String, since: Date?) async throws -> [LogLine] {
        try reachable("read logs of \(id)")
        guard let entry = containers[id] else {
            throw DriverError(.notFound, node: node, operation: "read logs of \(id)", message: "No such container")
        }
        return entry.logs.filter { since == nil || $0.time >= since! }
    }

    /// `fake:exit N` exits with N; anything else exits 0. Only in a running container.
    public func removeVolume(_ name: String) async throws {
        try reachable("remove volume \(name)")
    }

    public func volumes() async throws -> [String] { [] }

    public func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int {
        let operation = "exec in \(id)"
        try reachable(operation)
        guard let entry = containers[id] else {
            throw DriverError(.notFound, node: node, operation: operation, message: "No such container")
        }
        guard entry.info.status == .running else {
            throw DriverError(.conflict, node: node, operation: operation, message: "container is not running")
        }
        if let code = execResults[id] { return code }
        if command.first == "fake:exit" { return command.count > 1 ? Int(command[1]) ?? 1 : 0 }
        return 0
    }

    /// Exit codes of every later exec in a container, whatever its command (nil: by the command
    /// again): a health probe that starts failing while nothing else about the container changes.
    private var execResults: [String: Int] = [:]

    public func setExecResult(_ id: String, _ code: Int?) { execResults[id] = code }

    public func hasImage(_ image: String) async throws -> Bool {
        try reachable("inspect image \(image)")
        return images.contains(image)
    }

    public func pull(_ image: String, auth: RegistryAuth?) async throws {
        let operation = "pull image \(image)"
        try reachable(operation)
        pulls.append((image, auth?.username))
        guard let required = registry[image] else {
            throw DriverError(.engine, node: node, operation: operation, message: "manifest unknown")
        }
        if let required, auth?.username != required {
            throw DriverError(
                .engine, node: node, operation: operation, message: "unauthorized: authentication required")
        }
        images.insert(image)
    }
}
