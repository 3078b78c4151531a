import NIOCore
import Synchronization

/// The router's shared state, read and changed from every event loop under one lock: the published
/// ports' routes, what each replica has in flight (requests in http mode, connections in tcp mode),
/// which replicas are draining, and the idle keep-alive connections pooled per replica and event loop.
final class Balancer: Sendable {
    private struct PoolKey: Hashable {
        var backend: String
        var loop: ObjectIdentifier
    }

    private struct State {
        var ports: [Int: PublishedPort] = [:]
        var outstanding: [String: Int] = [:]
        var draining: Set<String> = []
        var cursor = 0
        var idle: [PoolKey: [(channel: any Channel, since: NIODeadline)]] = [:]
        var waiting: [Int: Int] = [:]
        var connections = 0
        /// Every backend id routed now.
        var present: Set<String> = []
    }

    private let state = Mutex(State())
    /// Idle connections kept per replica and event loop.
    let maxIdlePerBackend: Int

    init(maxIdlePerBackend: Int = 64) { self.maxIdlePerBackend = maxIdlePerBackend }

    // MARK: Routes

    /// Replaces the routes; replicas no longer routed and not busy stop draining. Returns the idle
    /// connections of replicas that left every pool (for the caller to close).
    func set(_ ports: [Int: PublishedPort]) -> [any Channel] {
        state.withLock { state in
            let present = Set(ports.values.flatMap { $0.routes.flatMap { $0.backends.map(\.id) } })
            state.draining = state.draining.filter { present.contains($0) || (state.outstanding[$0] ?? 0) > 0 }
            var filtered = ports
            for (port, published) in ports {
                for index in published.routes.indices {
                    filtered[port]!.routes[index].backends.removeAll { state.draining.contains($0.id) }
                }
            }
            state.ports = filtered
            state.present = present
            var gone: [any Channel] = []
            for key in state.idle.keys where !present.contains(key.backend) {
                gone += (state.idle.removeValue(forKey: key) ?? []).map(\.channel)
            }
            return gone
        }
    }

    /// Where a request for `host` on `port` goes.
    func resolve(port: Int, host: String?) -> (PublishedPort.Resolution, Route?) {
        state.withLock { state in
            guard let published = state.ports[port] else { return (.unknownHost, nil) }
            let resolution = published.resolve(host: host)
            if case .route(let index) = resolution { return (resolution, published.routes[index]) }
            return (resolution, nil)
        }
    }

    /// The route's replica with the fewest requests in flight (ties in turn), skipping `tried`.
    /// It counts as busy from here, so a drain that starts meanwhile waits for it.
    func pick(_ key: RouteKey, excluding tried: Set<String>) -> Backend? {
        state.withLock { state in Self.pick(key, excluding: tried, &state) }
    }

    /// `pick` and `checkout` under one lock (each request takes both).
    func lease(
        _ key: RouteKey, excluding tried: Set<String>, on loop: any EventLoop, maxIdle: TimeAmount
    ) -> (backend: Backend, channel: (any Channel)?, stale: [any Channel])? {
        let now = NIODeadline.now()
        return state.withLock { state in
            guard let backend = Self.pick(key, excluding: tried, &state) else { return nil }
            let pooled = Self.checkout(PoolKey(backend: backend.id, loop: ObjectIdentifier(loop)), now, maxIdle, &state)
            return (backend, pooled.channel, pooled.stale)
        }
    }

    private static func pick(_ key: RouteKey, excluding tried: Set<String>, _ state: inout State) -> Backend? {
        guard
            let route = state.ports[key.publish]?.routes.first(where: { $0.app == key.app && $0.port == key.port })
        else { return nil }
        let pool =
            tried.isEmpty && state.draining.isEmpty
            ? route.backends : route.backends.filter { !tried.contains($0.id) && !state.draining.contains($0.id) }
        guard !pool.isEmpty else { return nil }
        state.cursor &+= 1
        let start = state.cursor % pool.count
        var best = pool[start]
        var fewest = state.outstanding[best.id] ?? 0
        for offset in 1..<max(pool.count, 1) {
            let candidate = pool[(start + offset) % pool.count]
            let busy = state.outstanding[candidate.id] ?? 0
            if busy < fewest { (best, fewest) = (candidate, busy) }
        }
        state.outstanding[best.id, default: 0] += 1
        return best
    }

    /// Ends what `pick` counted.
    func release(_ id: String) {
        state.withLock { state in Self.release(id, &state) }
    }

    private static func release(_ id: String, _ state: inout State) {
        let left = (state.outstanding[id] ?? 1) - 1
        state.outstanding[id] = left > 0 ? left : nil
    }

    /// `release`, and `checkin` of the request's connection when it may be reused, under one lock.
    /// True when the connection was pooled.
    func release(_ id: String, returning channel: (any Channel)?) -> Bool {
        let key = channel.map { PoolKey(backend: id, loop: ObjectIdentifier($0.eventLoop)) }
        let now = NIODeadline.now()
        return state.withLock { state in
            Self.release(id, &state)
            guard let channel, let key else { return false }
            return checkin(id, key, channel, now, &state)
        }
    }

    func outstanding(_ id: String) -> Int { state.withLock { $0.outstanding[id] ?? 0 } }

    /// Takes the replica out of every pool; returns its idle connections, to be closed.
    func drain(_ id: String) -> [any Channel] {
        state.withLock { state in
            state.draining.insert(id)
            for port in state.ports.keys {
                for index in state.ports[port]!.routes.indices {
                    state.ports[port]!.routes[index].backends.removeAll { $0.id == id }
                }
            }
            var idle: [any Channel] = []
            for key in state.idle.keys where key.backend == id {
                idle += (state.idle.removeValue(forKey: key) ?? []).map(\.channel)
            }
            return idle
        }
    }

    /// The backends of a port's routes, in order.
    func backends(_ port: Int) -> [Backend] {
        state.withLock { $0.ports[port]?.routes.flatMap(\.backends) ?? [] }
    }

    // MARK: Keep-alive pool

    /// An idle connection to the replica made on `loop`, if one is pooled, open, and was idle less
    /// than `maxIdle` (servers close idle keep-alive connections after a few seconds, Node's after 5:
    /// a request sent on one the server is closing is lost when it may not be sent twice). The
    /// newest is taken; older ones past `maxIdle` are returned for the caller to close.
    private static func checkout(
        _ key: PoolKey, _ now: NIODeadline, _ maxIdle: TimeAmount, _ state: inout State
    ) -> (channel: (any Channel)?, stale: [any Channel]) {
        var stale: [any Channel] = []
        if let oldest = state.idle[key]?.first, now - oldest.since > maxIdle {
            stale = state.idle[key]!.filter { now - $0.since > maxIdle }.map(\.channel)
            state.idle[key]!.removeAll { now - $0.since > maxIdle }
        }
        while let (channel, _) = state.idle[key]?.popLast() {
            if channel.isActive { return (channel, stale) }
        }
        return (nil, stale)
    }

    /// Pools an idle connection; false when it must be closed instead (the replica drains, or its pool is full).
    private func checkin(
        _ id: String, _ key: PoolKey, _ channel: any Channel, _ now: NIODeadline, _ state: inout State
    ) -> Bool {
        guard state.draining.isEmpty || !state.draining.contains(id), state.present.contains(id),
            (state.idle[key]?.count ?? 0) < maxIdlePerBackend
        else { return false }
        state.idle[key, default: []].append((channel, now))
        return true
    }

    /// Forgets a pooled connection that closed.
    func forget(_ id: String, _ channel: any Channel) {
        let key = PoolKey(backend: id, loop: ObjectIdentifier(channel.eventLoop))
        state.withLock { state in state.idle[key]?.removeAll { $0.channel === channel } }
    }

    /// Every pooled connection, taken out (the router shuts down).
    func takeAllIdle() -> [any Channel] {
        state.withLock { state in
            defer { state.idle = [:] }
            return state.idle.values.flatMap { $0.map(\.channel) }
        }
    }

    // MARK: Waiting and connection counts

    /// Counts one in as waiting on `port`; false when `limit` are waiting already.
    func startWaiting(_ port: Int, limit: Int) -> Bool {
        state.withLock { state in
            guard state.waiting[port, default: 0] < limit else { return false }
            state.waiting[port, default: 0] += 1
            return true
        }
    }

    func stopWaiting(_ port: Int) {
        state.withLock { state in
            let left = state.waiting[port, default: 1] - 1
            state.waiting[port] = left > 0 ? left : nil
        }
    }

    func waiting(_ port: Int) -> Int { state.withLock { $0.waiting[port] ?? 0 } }

    /// Counts a client connection in; false when `limit` are open.
    func admit(limit: Int) -> Bool {
        state.withLock { state in
            guard state.connections < limit else { return false }
            state.connections += 1
            return true
        }
    }

    func closedConnection() { state.withLock { $0.connections -= 1 } }
}
