import ReconcileModel

/// A replica's address as the router reaches it: the node's address and the dynamic host port.
public struct Backend: Sendable, Hashable {
    /// The container id.
    public var id: String
    public var host: String
    public var port: Int

    public init(id: String, host: String, port: Int) {
        self.id = id
        self.host = host
        self.port = port
    }
}

/// A certificate chain and its private key, PEM, as read from their secret references.
public struct CertificatePEM: Sendable, Hashable {
    public var chain: String
    public var key: String

    public init(chain: String, key: String) {
        self.chain = chain
        self.key = key
    }
}

/// One App port behind a published port: which requests reach it (by Host, in http mode) and the
/// ready replicas they are balanced over.
public struct Route: Sendable, Hashable {
    public var app: String
    /// The App's port name.
    public var port: String
    /// Lower-case Host names (http mode); empty: every host no other route claims.
    public var hosts: [String]
    public var backends: [Backend]
    public var certificate: CertificatePEM?
    public var accessLog: Bool

    public init(
        app: String, port: String, hosts: [String] = [], backends: [Backend], certificate: CertificatePEM? = nil,
        accessLog: Bool = false
    ) {
        self.app = app
        self.port = port
        self.hosts = hosts
        self.backends = backends
        self.certificate = certificate
        self.accessLog = accessLog
    }
}

/// Requests for `hosts` (empty: every host) on a plain http port answered with a redirect to HTTPS on `httpsPort`.
public struct Redirect: Sendable, Hashable {
    public var hosts: [String]
    public var httpsPort: Int

    public init(hosts: [String], httpsPort: Int) {
        self.hosts = hosts
        self.httpsPort = httpsPort
    }
}

/// What the router serves on one published port.
public struct PublishedPort: Sendable, Hashable {
    public var mode: PortProtocol
    /// tcp: one route; http: one per App port sharing the published port.
    public var routes: [Route]
    public var redirects: [Redirect]

    public init(mode: PortProtocol, routes: [Route], redirects: [Redirect] = []) {
        self.mode = mode
        self.routes = routes
        self.redirects = redirects
    }

    /// A tcp port forwarding to `backends` (of an App without a name: tests and tools).
    public static func tcp(_ backends: [Backend], app: String = "") -> PublishedPort {
        PublishedPort(mode: .tcp, routes: [Route(app: app, port: "", backends: backends)])
    }

    /// Served over TLS when its routes carry certificates.
    var isTLS: Bool { routes.contains { $0.certificate != nil } }

    /// Where a request for `host` goes: the route claiming it, else a redirect for it, else the
    /// route (or redirect) for every host.
    func resolve(host: String?) -> Resolution {
        let host = host ?? ""
        if let index = routes.firstIndex(where: { $0.hosts.contains(host) }) { return .route(index) }
        if let redirect = redirects.first(where: { $0.hosts.contains(host) }) { return .redirect(redirect.httpsPort) }
        if let index = routes.firstIndex(where: { $0.hosts.isEmpty }) { return .route(index) }
        if let redirect = redirects.first(where: { $0.hosts.isEmpty }) { return .redirect(redirect.httpsPort) }
        return .unknownHost
    }

    enum Resolution: Equatable {
        case route(Int)
        case redirect(Int)
        case unknownHost
    }
}

/// Identifies a route across updates of the table: a published port, an App and its port name.
public struct RouteKey: Hashable, Sendable {
    public var publish: Int
    public var app: String
    public var port: String

    public init(publish: Int, app: String, port: String) {
        self.publish = publish
        self.app = app
        self.port = port
    }
}
