/// A long-running service with replicas, resources, ports, health checks and an update strategy.
///
/// A value like any struct, with its fields kept in one shared box until a copy is changed (copy on
/// write): a desired state of 20,000 Apps copies as 20,000 references, and two copies of one App
/// compare equal by identity without reading their fields.
public struct AppSpec: Sendable, Hashable, Codable {
    struct Fields: Sendable, Hashable {
        var name: String
        var image: String?
        var command: [String]?
        var env: [String: String]
        var secretEnv: [String: SecretReference]
        var replicas: Int
        var resources: Resources
        var ports: [PortSpec]
        var health: HealthSpec?
        var update: UpdateStrategy
        var placement: Placement
        var restart: RestartPolicy
        var alerts: [String]
        var network: ContainerNetwork
        var pull: PullPolicy
        var files: [FileSpec]
        var volumes: [VolumeMount]
        var alertAfter: Timespan
        var notifyOn: [DeployEvent]
    }

    /// Changed only while uniquely referenced (`fields`' modify), so sharing it is safe.
    private final class Storage: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage

    private var fields: Fields {
        get { storage.fields }
        _modify {
            if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
            yield &storage.fields
        }
    }

    public var name: String {
        get { storage.fields.name }
        _modify { yield &fields.name }
    }
    public var image: String? {
        get { storage.fields.image }
        _modify { yield &fields.image }
    }
    public var command: [String]? {
        get { storage.fields.command }
        _modify { yield &fields.command }
    }
    public var env: [String: String] {
        get { storage.fields.env }
        _modify { yield &fields.env }
    }
    public var secretEnv: [String: SecretReference] {
        get { storage.fields.secretEnv }
        _modify { yield &fields.secretEnv }
    }
    public var replicas: Int {
        get { storage.fields.replicas }
        _modify { yield &fields.replicas }
    }
    public var resources: Resources {
        get { storage.fields.resources }
        _modify { yield &fields.resources }
    }
    public var ports: [PortSpec] {
        get { storage.fields.ports }
        _modify { yield &fields.ports }
    }
    public var health: HealthSpec? {
        get { storage.fields.health }
        _modify { yield &fields.health }
    }
    public var update: UpdateStrategy {
        get { storage.fields.update }
        _modify { yield &fields.update }
    }
    public var placement: Placement {
        get { storage.fields.placement }
        _modify { yield &fields.placement }
    }
    public var restart: RestartPolicy {
        get { storage.fields.restart }
        _modify { yield &fields.restart }
    }
    public var alerts: [String] {
        get { storage.fields.alerts }
        _modify { yield &fields.alerts }
    }
    public var network: ContainerNetwork {
        get { storage.fields.network }
        _modify { yield &fields.network }
    }
    public var pull: PullPolicy {
        get { storage.fields.pull }
        _modify { yield &fields.pull }
    }
    /// Files put into each replica before it starts.
    public var files: [FileSpec] {
        get { storage.fields.files }
        _modify { yield &fields.files }
    }
    /// Volumes mounted into each replica.
    public var volumes: [VolumeMount] {
        get { storage.fields.volumes }
        _modify { yield &fields.volumes }
    }
    /// How long the App may run below its ready replicas, or have replicas it cannot place, before
    /// an incident opens (`degraded/NAME`, `unplaceable/NAME`).
    public var alertAfter: Timespan {
        get { storage.fields.alertAfter }
        _modify { yield &fields.alertAfter }
    }
    /// One-off notices to the App's `alerts:` notifiers when a rollout completes or is rolled back.
    public var notifyOn: [DeployEvent] {
        get { storage.fields.notifyOn }
        _modify { yield &fields.notifyOn }
    }

    public init(
        name: String, image: String? = nil, command: [String]? = nil, env: [String: String] = [:],
        secretEnv: [String: SecretReference] = [:], replicas: Int = 1, resources: Resources = .defaultRequest,
        ports: [PortSpec] = [], health: HealthSpec? = nil, update: UpdateStrategy = UpdateStrategy(),
        placement: Placement = Placement(), restart: RestartPolicy = .always, alerts: [String] = [],
        network: ContainerNetwork = .bridge, pull: PullPolicy = .ifNotPresent, files: [FileSpec] = [],
        volumes: [VolumeMount] = [], alertAfter: Timespan = .minutes(5), notifyOn: [DeployEvent] = []
    ) {
        storage = Storage(
            Fields(
                name: name, image: image, command: command, env: env, secretEnv: secretEnv, replicas: replicas,
                resources: resources, ports: ports, health: health, update: update, placement: placement,
                restart: restart, alerts: alerts, network: network, pull: pull, files: files, volumes: volumes,
                alertAfter: alertAfter, notifyOn: notifyOn))
    }

    public static func == (lhs: AppSpec, rhs: AppSpec) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.fields) }

    enum CodingKeys: String, CodingKey {
        case name, image, command, env, secretEnv, replicas, resources, ports, health, update, placement, restart,
            alerts, network, pull, files, volumes, alertAfter, notifyOn
    }

    /// The fields as the struct's stored properties were written before they moved into a box.
    public func encode(to encoder: any Encoder) throws {
        var values = encoder.container(keyedBy: CodingKeys.self)
        try values.encode(name, forKey: .name)
        try values.encodeIfPresent(image, forKey: .image)
        try values.encodeIfPresent(command, forKey: .command)
        try values.encode(env, forKey: .env)
        try values.encode(secretEnv, forKey: .secretEnv)
        try values.encode(replicas, forKey: .replicas)
        try values.encode(resources, forKey: .resources)
        try values.encode(ports, forKey: .ports)
        try values.encodeIfPresent(health, forKey: .health)
        try values.encode(update, forKey: .update)
        try values.encode(placement, forKey: .placement)
        try values.encode(restart, forKey: .restart)
        try values.encode(alerts, forKey: .alerts)
        try values.encode(network, forKey: .network)
        try values.encode(pull, forKey: .pull)
        try values.encode(files, forKey: .files)
        try values.encode(volumes, forKey: .volumes)
        try values.encode(alertAfter, forKey: .alertAfter)
        try values.encode(notifyOn, forKey: .notifyOn)
    }
}

extension AppSpec {
    /// Specs stored before a field existed decode with its default (a controller upgraded in place
    /// still finds its Apps' last good specs).
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try values.decode(String.self, forKey: .name),
            image: try values.decodeIfPresent(String.self, forKey: .image),
            command: try values.decodeIfPresent([String].self, forKey: .command),
            env: try values.decodeIfPresent([String: String].self, forKey: .env) ?? [:],
            secretEnv: try values.decodeIfPresent([String: SecretReference].self, forKey: .secretEnv) ?? [:],
            replicas: try values.decodeIfPresent(Int.self, forKey: .replicas) ?? 1,
            resources: try values.decodeIfPresent(Resources.self, forKey: .resources) ?? .defaultRequest,
            ports: try values.decodeIfPresent([PortSpec].self, forKey: .ports) ?? [],
            health: try values.decodeIfPresent(HealthSpec.self, forKey: .health),
            update: try values.decodeIfPresent(UpdateStrategy.self, forKey: .update) ?? UpdateStrategy(),
            placement: try values.decodeIfPresent(Placement.self, forKey: .placement) ?? Placement(),
            restart: try values.decodeIfPresent(RestartPolicy.self, forKey: .restart) ?? .always,
            alerts: try values.decodeIfPresent([String].self, forKey: .alerts) ?? [],
            network: try values.decodeIfPresent(ContainerNetwork.self, forKey: .network) ?? .bridge,
            pull: try values.decodeIfPresent(PullPolicy.self, forKey: .pull) ?? .ifNotPresent,
            files: try values.decodeIfPresent([FileSpec].self, forKey: .files) ?? [],
            volumes: try values.decodeIfPresent([VolumeMount].self, forKey: .volumes) ?? [],
            alertAfter: try values.decodeIfPresent(Timespan.self, forKey: .alertAfter) ?? .minutes(5),
            notifyOn: try values.decodeIfPresent([DeployEvent].self, forKey: .notifyOn) ?? [])
    }
}

public struct PortSpec: Sendable, Hashable, Codable {
    public var name: String
    /// The port the process listens on inside the container (or on the host for process nodes).
    public var container: Int
    /// The router's port on the controller host, when published.
    public var publish: Int?
    /// How the router forwards the published port: TCP connections, or HTTP requests.
    public var mode: PortProtocol
    /// HTTP only: the Host names this App answers on its published port (empty: every host the
    /// port's other Apps do not claim).
    public var hosts: [String]
    /// HTTP only: the port is served over TLS with this certificate for `hosts`.
    public var tls: PortTLS?
    /// HTTP only: one line per request into the App's logs (source `router`).
    public var accessLog: Bool

    public init(
        name: String, container: Int, publish: Int? = nil, mode: PortProtocol = .tcp, hosts: [String] = [],
        tls: PortTLS? = nil, accessLog: Bool = false
    ) {
        self.name = name
        self.container = container
        self.publish = publish
        self.mode = mode
        self.hosts = hosts
        self.tls = tls
        self.accessLog = accessLog
    }
}

/// What the router speaks on a published port.
public enum PortProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    /// Connections spliced to a replica (databases, any protocol).
    case tcp
    /// HTTP/1.1 requests balanced per request over pooled keep-alive connections.
    case http
}

/// A published HTTP port's certificate: PEM files named by secret references (resolved on the
/// controller host when the router is updated, never stored).
public struct PortTLS: Sendable, Hashable, Codable {
    public var cert: SecretReference
    public var key: SecretReference
    /// A plain HTTP port on which the router answers requests for these hosts with a permanent
    /// redirect to HTTPS on the published port.
    public var redirectFrom: Int?

    public init(cert: SecretReference, key: SecretReference, redirectFrom: Int? = nil) {
        self.cert = cert
        self.key = key
        self.redirectFrom = redirectFrom
    }
}

public struct HealthSpec: Sendable, Hashable, Codable {
    public enum Probe: Sendable, Hashable, Codable {
        case http(port: String, path: String, expect: Int)
        case tcp(port: String)
        case command([String])
    }

    public var probe: Probe
    public var interval: Timespan
    public var timeout: Timespan
    public var failureThreshold: Int
    public var startPeriod: Timespan

    public init(
        probe: Probe, interval: Timespan = .seconds(10), timeout: Timespan = .seconds(2), failureThreshold: Int = 3,
        startPeriod: Timespan = .zero
    ) {
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        self.failureThreshold = failureThreshold
        self.startPeriod = startPeriod
    }
}

public struct UpdateStrategy: Sendable, Hashable, Codable {
    public var maxSurge: Int
    public var maxUnavailable: Int
    public var minReadyTime: Timespan
    public var progressDeadline: Timespan
    public var autoRollback: Bool
    public var stopGracePeriod: Timespan

    public init(
        maxSurge: Int = 1, maxUnavailable: Int = 0, minReadyTime: Timespan = .zero,
        progressDeadline: Timespan = .minutes(5), autoRollback: Bool = true, stopGracePeriod: Timespan = .seconds(30)
    ) {
        self.maxSurge = maxSurge
        self.maxUnavailable = maxUnavailable
        self.minReadyTime = minReadyTime
        self.progressDeadline = progressDeadline
        self.autoRollback = autoRollback
        self.stopGracePeriod = stopGracePeriod
    }
}

public struct Placement: Sendable, Hashable, Codable {
    /// Node labels that must all match.
    public var require: [String: String]
    /// Put replicas of one app on different nodes where possible.
    public var spread: Bool

    public init(require: [String: String] = [:], spread: Bool = true) {
        self.require = require
        self.spread = spread
    }
}

public enum RestartPolicy: String, Sendable, Hashable, CaseIterable, Codable {
    case always
    case onFailure = "on-failure"
    case never
}
