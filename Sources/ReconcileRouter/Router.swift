import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import ReconcileModel

/// The published ports. In tcp mode each connection is spliced to a ready replica; in http mode
/// each request is routed by Host and balanced over pooled keep-alive connections to the least
/// busy ready replica, over TLS when the port has certificates. A replica joins its pools when the
/// controller reports it ready; before it is stopped it is drained: no new connection or request
/// goes to it, those in flight may finish (up to the App's stopGracePeriod), and its idle pooled
/// connections are closed, while clients' keep-alive connections stay open for other replicas.
public actor Router {
    /// What one client can make the router hold, and for how long.
    public struct Limits: Sendable {
        /// How long a connection (tcp) or request (http) waits for a ready replica when none is.
        public var waitForBackend: TimeAmount = .seconds(30)
        /// Connections (tcp) or requests (http) per port that may wait for a replica at once.
        public var maxWaiting = 256
        /// tcp: how long a client may keep its side open after the replica ended the connection.
        public var lingerAfterBackend: TimeAmount = .seconds(30)
        /// http: client connections open at once, over every port.
        public var maxConnections = 10_000
        /// http: the first request head must arrive within this of the connection opening.
        public var headTimeout: TimeAmount = .seconds(10)
        /// http: the next request head must arrive within this of the last response.
        public var keepAliveTimeout: TimeAmount = .seconds(60)
        /// http: a request's body must arrive within this of its head.
        public var bodyTimeout: TimeAmount = .seconds(120)
        /// http: the longest silence from a replica while its response is due.
        public var upstreamTimeout: TimeAmount = .seconds(60)
        public var connectTimeout: TimeAmount = .seconds(2)
        /// http: a header field, and all of a request's header fields, at most (431 beyond).
        public var maxHeaderFieldBytes = 16 * 1024
        public var maxHeaderBytes = 32 * 1024
        public var maxHeaderFields = 128
        /// http: body bytes kept to send an idempotent request to another replica.
        public var replayBytes = 64 * 1024
        /// http: body bytes read from a client ahead of the replica taking them.
        public var bufferedBytes = 64 * 1024
        /// http: replicas one request is sent to at most.
        public var maxAttempts = 3
        /// http: a pooled connection to a replica idle longer than this is closed, not reused.
        public var upstreamIdle: TimeAmount = .seconds(4)

        public init() {}

        var parser: RequestParser.Limits {
            RequestParser.Limits(
                maxFieldBytes: maxHeaderFieldBytes, maxHeaderBytes: maxHeaderBytes, maxFields: maxHeaderFields)
        }
    }

    private struct Listener {
        var channel: any Channel
        var mode: PortProtocol
        var tls: Bool
    }

    private let address: String
    private let limits: Limits
    private let observer: any RouterObserver
    private let balancer = Balancer()
    private var listeners: [Int: Listener] = [:]
    private var certificates: [Int: Certificates] = [:]
    /// The event loops http-mode connections run on (NIO's shared group unless given).
    private let group: any EventLoopGroup

    /// - Parameter address: the address listeners bind to (loopback unless the host should serve others).
    public init(
        address: String = "127.0.0.1", limits: Limits = Limits(), observer: any RouterObserver = SilentRouterObserver(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.group = group
        self.address = address
        self.limits = limits
        self.observer = observer
    }

    /// The tcp limits of the router before http mode (tests).
    public init(
        address: String = "127.0.0.1", waitForBackend: TimeInterval, lingerAfterBackend: Duration = .seconds(30),
        maxWaiting: Int = 256
    ) {
        var limits = Limits()
        limits.waitForBackend = .nanoseconds(Int64(waitForBackend * 1e9))
        limits.lingerAfterBackend = TimeAmount(lingerAfterBackend)
        limits.maxWaiting = maxWaiting
        self.init(address: address, limits: limits)
    }

    /// The ports listened on.
    public var ports: [Int] { listeners.keys.sorted() }

    /// The backends of a port, in pool order.
    public func pool(_ port: Int) -> [Backend] { balancer.backends(port) }

    /// Connections (tcp) or requests (http) in flight per backend id.
    public func openConnections(_ id: String) -> Int { balancer.outstanding(id) }

    /// Connections (tcp) or requests (http) waiting for a replica on `port` now.
    public func waitingConnections(_ port: Int) -> Int { balancer.waiting(port) }

    /// Sets each published port's ready replicas as tcp ports.
    @discardableResult
    public func update(_ wanted: [Int: [Backend]]) async -> [String] {
        await update(ports: wanted.mapValues { PublishedPort.tcp($0) })
    }

    /// Sets what each published port serves: listens on new ports (again when a port's protocol or
    /// TLS changed), closes ports no longer published. Returns one message per port that could not
    /// be served.
    @discardableResult
    public func update(ports wanted: [Int: PublishedPort]) async -> [String] {
        var errors: [String] = []
        var served = wanted
        for (port, published) in wanted.sorted(by: { $0.key < $1.key }) where published.isTLS {
            let store = certificates[port] ?? Certificates()
            errors += store.set(published.routes)
            if store.isEmpty {
                errors.append("cannot serve TLS on \(address):\(port): no certificate loads")
                served[port] = nil
            }
            certificates[port] = store
        }
        for channel in balancer.set(served) { channel.close(promise: nil) }
        for (port, listener) in listeners {
            let want = served[port]
            if want == nil || want?.mode != listener.mode || want?.isTLS != listener.tls {
                listeners[port] = nil
                try? await listener.channel.close()
            }
        }
        for port in certificates.keys where served[port]?.isTLS != true { certificates[port] = nil }
        for (port, published) in served.sorted(by: { $0.key < $1.key }) where listeners[port] == nil {
            do {
                try await listen(port, published)
            } catch {
                errors.append("cannot listen on \(address):\(port): \(error)")
            }
        }
        return errors
    }

    /// Takes the replica out of every pool and waits until what it has in flight ended, or `grace` passed.
    public func drain(_ id: String, grace: Timespan) async {
        for channel in balancer.drain(id) { channel.close(promise: nil) }
        let deadline = Date().addingTimeInterval(grace.seconds)
        while balancer.outstanding(id) > 0, Date() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Closes every listener and idle connection.
    public func shutdown() async {
        for (_, listener) in listeners {
            try? await listener.channel.close()
        }
        listeners = [:]
        for channel in balancer.set([:]) { channel.close(promise: nil) }
        for channel in balancer.takeAllIdle() { channel.close(promise: nil) }
    }

    // MARK: Listeners

    private func listen(_ port: Int, _ published: PublishedPort) async throws {
        let channel: any Channel
        switch published.mode {
        case .tcp:
            channel = try await listenTCP(port, published)
        case .http:
            let tls = try published.isTLS ? certificates[port]?.context() : nil
            channel = try await listenHTTP(port, tls: tls)
        }
        listeners[port] = Listener(channel: channel, mode: published.mode, tls: published.isTLS)
    }

    private func listenTCP(_ port: Int, _ published: PublishedPort) async throws -> any Channel {
        let route = published.routes.first
        let key = RouteKey(publish: port, app: route?.app ?? "", port: route?.port ?? "")
        let forwarder = TCPForwarder(
            balancer: balancer, waitForBackend: Double(limits.waitForBackend.nanoseconds) / 1e9,
            lingerAfterBackend: .nanoseconds(limits.lingerAfterBackend.nanoseconds), maxWaiting: limits.maxWaiting)
        // Accepted connections stay raw channels that read nothing until they are wrapped for the
        // splice: a connection dropped before that (the listener closing) needs no teardown.
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HoldUntilSpliced())
                    Task { await forwarder.serve(channel, key: key) }
                }
            }
            .bind(host: address, port: port).get()
    }

    private func listenHTTP(_ port: Int, tls: NIOSSLContext?) async throws -> any Channel {
        let (balancer, limits, observer) = (self.balancer, self.limits, self.observer)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A client that sends its request and shuts down its sending side (nc, some scripts)
            // still gets the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls { try operations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try operations.addHandler(
                        HTTPFrontend(
                            publish: port, balancer: balancer, limits: limits, tls: tls != nil, observer: observer))
                }
            }
            .bind(host: address, port: port).get()
    }
}
