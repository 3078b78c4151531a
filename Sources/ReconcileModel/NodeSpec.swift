/// A machine that runs containers: a Docker engine or the controller's own host (process node).
public struct NodeSpec: Sendable, Hashable {
    public enum Backend: Sendable, Hashable {
        /// A Docker Engine at `endpoint` (`unix:///path` or `tcp://host:port`), with TLS for tcp.
        case docker(endpoint: String, tls: TLSFiles?)
        /// Host processes on the controller's machine.
        case process
    }

    public struct TLSFiles: Sendable, Hashable {
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

    public init(name: String, backend: Backend, capacity: Resources? = nil, labels: [String: String] = [:]) {
        self.name = name
        self.backend = backend
        self.capacity = capacity
        self.labels = labels
    }

    public var isProcessNode: Bool { if case .process = backend { true } else { false } }
}
