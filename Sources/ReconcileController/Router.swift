import Foundation
import NIOCore
import NIOPosix
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

/// The published ports: for each, a listener that forwards every TCP connection to a ready replica,
/// round robin. A replica joins its pool when the controller reports it ready; before a replica is
/// stopped it is drained: taken out of the pool, then its open connections may finish (up to the
/// App's stopGracePeriod). A backend that refuses a connection is skipped for the next one, so a
/// replica that dies between two passes costs no request.
public actor Router {
    private struct Listener {
        var channel: any Channel
        var task: Task<Void, Never>
    }

    private let address: String
    private var listeners: [Int: Listener] = [:]
    private var pools: [Int: [Backend]] = [:]
    private var cursors: [Int: Int] = [:]
    private var open: [String: Int] = [:]
    private var draining: Set<String> = []
    /// How long a connection waits for a ready replica when the pool is empty.
    private let waitForBackend: TimeInterval

    /// - Parameter address: the address listeners bind to (loopback unless the host should serve others).
    public init(address: String = "127.0.0.1", waitForBackend: TimeInterval = 10) {
        self.address = address
        self.waitForBackend = waitForBackend
    }

    /// The ports listened on.
    public var ports: [Int] { listeners.keys.sorted() }

    /// The backends of a port, in pool order.
    public func pool(_ port: Int) -> [Backend] { pools[port] ?? [] }

    /// Open connections per backend id.
    public func openConnections(_ id: String) -> Int { open[id] ?? 0 }

    /// Sets each published port's ready replicas: listens on new ports, closes ports no longer
    /// published. Returns one message per port that could not be bound.
    @discardableResult
    public func update(_ wanted: [Int: [Backend]]) async -> [String] {
        var errors: [String] = []
        for port in listeners.keys where wanted[port] == nil {
            if let listener = listeners.removeValue(forKey: port) {
                try? await listener.channel.close()
                listener.task.cancel()
            }
            pools[port] = nil
        }
        let present = Set(wanted.values.flatMap { $0.map(\.id) })
        draining = draining.filter { present.contains($0) || (open[$0] ?? 0) > 0 }
        for (port, backends) in wanted.sorted(by: { $0.key < $1.key }) {
            pools[port] = backends.filter { !draining.contains($0.id) }
            if listeners[port] == nil {
                do {
                    try await listen(port)
                } catch {
                    errors.append("cannot listen on \(address):\(port): \(error)")
                }
            }
        }
        return errors
    }

    /// Takes the replica out of every pool and waits until its connections are closed, or `grace` passed.
    public func drain(_ id: String, grace: Timespan) async {
        draining.insert(id)
        for port in pools.keys { pools[port]?.removeAll { $0.id == id } }
        let deadline = Date().addingTimeInterval(grace.seconds)
        while (open[id] ?? 0) > 0, Date() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Closes every listener.
    public func shutdown() async {
        for (_, listener) in listeners {
            try? await listener.channel.close()
            listener.task.cancel()
        }
        listeners = [:]
        pools = [:]
    }

    // MARK: Connections

    private func listen(_ port: Int) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: address, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let channel = server.channel
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection, port: port) }
                    }
                }
            }
        }
        listeners[port] = Listener(channel: channel, task: task)
    }

    /// The next backend of the port's pool, round robin, skipping `tried`. The connection counts as
    /// open from here, so a drain that starts while it connects waits for it.
    private func pick(_ port: Int, excluding tried: Set<String>) -> Backend? {
        let pool = (pools[port] ?? []).filter { !tried.contains($0.id) }
        guard !pool.isEmpty else { return nil }
        let cursor = cursors[port, default: 0]
        cursors[port] = cursor &+ 1
        let backend = pool[cursor % pool.count]
        open[backend.id, default: 0] += 1
        return backend
    }

    private func closed(_ id: String) {
        open[id, default: 1] -= 1
        if open[id] == 0 { open[id] = nil }
    }

    private nonisolated func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, port: Int) async {
        let deadline = Date().addingTimeInterval(waitForBackend)
        var tried: Set<String> = []
        while !Task.isCancelled {
            guard let backend = await pick(port, excluding: tried) else {
                // Nothing (left) to try: wait for a replica to become ready, then try them all again.
                guard Date() < deadline else { break }
                tried = []
                try? await Task.sleep(nanoseconds: 50_000_000)
                continue
            }
            let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
            do {
                upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(2))
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .connect(host: backend.host, port: backend.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                                wrappingChannelSynchronously: channel,
                                configuration: .init(isOutboundHalfClosureEnabled: true))
                        }
                    }
            } catch {
                await closed(backend.id)
                tried.insert(backend.id)
                continue
            }
            await Self.splice(client, upstream)
            await closed(backend.id)
            return
        }
        try? await client.executeThenClose { _, _ in }
    }

    /// Copies bytes both ways until both directions end; a half close is passed on.
    private static func splice(
        _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    ) async {
        try? await client.executeThenClose { clientIn, clientOut in
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await buffer in clientIn { try await upstreamOut.write(buffer) }
                        upstreamOut.finish()
                    }
                    group.addTask {
                        for try await buffer in upstreamIn { try await clientOut.write(buffer) }
                        clientOut.finish()
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
