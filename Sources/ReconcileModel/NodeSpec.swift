import Foundation

/// A machine that runs containers: a Docker engine or the controller's own host (process node).
public struct NodeSpec: Sendable, Hashable, Codable {
    public enum Backend: Sendable, Hashable, Codable {
        /// A Docker Engine at `endpoint` (`unix:///path` or `tcp://host:port`), with TLS for tcp.
        case docker(endpoint: String, tls: TLSFiles?)
        /// Host processes on the controller's machine.
        case process
    }

    public struct TLSFiles: Sendable, Hashable, Codable {
        public var ca: String
        public var cert: String
        public var key: String

        public init(ca: String, cert: String, key: String) {
            self.ca = ca
            self.cert = cert
            self.key = key
        }
    }

    public var name: String
    public var backend: Backend
    /// Declared capacity; nil means "what the engine reports".
    public var capacity: Resources?
    public var labels: [String: String]
    /// The address other hosts and the controller reach the node at (`address:`); nil for the
    /// default (see `reachAddress`).
    public var address: String?
    /// Publish container ports on every interface of the node (0.0.0.0) instead of only `address`.
    public var bindAll: Bool
    /// False (`schedulable: false`) takes the node out of service: it gets no new work and its
    /// replicas move elsewhere.
    public var schedulable: Bool
    /// True lets workloads mount any folder of this node (`hostPath:`), even `/`, the controller's
    /// state directory or the Docker socket, which are refused otherwise: a container that can write
    /// them controls the node, and the controller with it.
    public var allowHostPath: Bool
    /// Set by the controller, not by git: the node is drained by `reconcile nodes drain` (since
    /// when, until when) or because it was removed from git; replicas still on it when the
    /// deadline passes are stopped without waiting for their replacements.
    public var drain: Drain?

    public struct Drain: Sendable, Hashable, Codable {
        public enum Cause: String, Sendable, Hashable, Codable {
            /// `reconcile nodes drain` (CLI, API or the nodes page).
            case requested
            /// The Node is no longer in git: drained, then forgotten once nothing of ours runs there.
            case removedFromGit
        }

        public var cause: Cause
        public var since: Date
        public var deadline: Date?

        public init(cause: Cause, since: Date, deadline: Date? = nil) {
            self.cause = cause
            self.since = since
            self.deadline = deadline
        }
    }

    /// Specs stored before a field existed decode with its default.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try values.decode(String.self, forKey: .name),
            backend: try values.decode(Backend.self, forKey: .backend),
            capacity: try values.decodeIfPresent(Resources.self, forKey: .capacity),
            labels: try values.decodeIfPresent([String: String].self, forKey: .labels) ?? [:],
            address: try values.decodeIfPresent(String.self, forKey: .address),
            bindAll: try values.decodeIfPresent(Bool.self, forKey: .bindAll) ?? false,
            schedulable: try values.decodeIfPresent(Bool.self, forKey: .schedulable) ?? true,
            allowHostPath: try values.decodeIfPresent(Bool.self, forKey: .allowHostPath) ?? false)
        drain = try values.decodeIfPresent(Drain.self, forKey: .drain)
    }

    /// False while the node takes no new work: `schedulable: false` in git or a drain.
    public var acceptsWork: Bool { schedulable && drain == nil }

    public init(
        name: String, backend: Backend, capacity: Resources? = nil, labels: [String: String] = [:],
        address: String? = nil, bindAll: Bool = false, schedulable: Bool = true, allowHostPath: Bool = false
    ) {
        self.allowHostPath = allowHostPath
        self.name = name
        self.backend = backend
        self.capacity = capacity
        self.labels = labels
        self.address = address
        self.bindAll = bindAll
        self.schedulable = schedulable
    }

    /// Where the router, probes and other hosts dial the node's published ports: `address:` when
    /// set, else the host of a `tcp://` endpoint, else (a unix socket or a process node, both on the
    /// controller's host) the controller's publish address.
    public func reachAddress(publishAddress: String) -> String {
        if let address { return address }
        if case .docker(let endpoint, _) = backend, endpoint.hasPrefix("tcp://") {
            let hostPort = endpoint.dropFirst("tcp://".count)
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                return String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            }
            if let colon = hostPort.lastIndex(of: ":") { return String(hostPort[..<colon]) }
            return String(hostPort)
        }
        return publishAddress
    }

    /// The address container ports are bound on: every interface with `bindAll`, else the reach address.
    public func bindAddress(publishAddress: String) -> String {
        bindAll ? "0.0.0.0" : reachAddress(publishAddress: publishAddress)
    }

    public var isProcessNode: Bool { if case .process = backend { true } else { false } }
}
