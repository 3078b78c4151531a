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
    }

    private let address: String
    private var listeners: [Int: Listener] = [:]
    private var pools: [Int: [Backend]] = [:]
    private var cursors: [Int: Int] = [:]
    private var open: [String: Int] = [:]
    private var draining: Set<String> = []
    /// Connections per port waiting for a replica (no replica was there to take them); past
    /// `maxWaiting` a connection that would wait is closed at once.
    private var waiting: [Int: Int] = [:]
    private let maxWaiting: Int
    /// How long a connection waits for a ready replica when the pool is empty.
    private let waitForBackend: TimeInterval
    /// How long a client may keep its side open after the backend ended the connection.
    private let lingerAfterBackend: Duration

    /// - Parameter address: the address listeners bind to (loopback unless the host should serve others).
    /// - Parameter maxWaiting: connections per port that may wait for a replica at once (each holds
    ///   at most 64 KiB it was sent meanwhile).
    public init(
        address: String = "127.0.0.1", waitForBackend: TimeInterval = 30, lingerAfterBackend: Duration = .seconds(30),
        maxWaiting: Int = 256
    ) {
        self.maxWaiting = maxWaiting
        self.address = address
        self.waitForBackend = waitForBackend
        self.lingerAfterBackend = lingerAfterBackend
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
        }
        listeners = [:]
        pools = [:]
    }

    // MARK: Connections

    private func listen(_ port: Int) async throws {
        // Accepted connections stay raw channels that read nothing until they are wrapped for the
        // splice: a connection dropped before that (the listener closing) needs no teardown.
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HoldUntilSpliced())
                    Task { await self.serve(channel, port: port) }
                }
            }
            .bind(host: address, port: port).get()
        listeners[port] = Listener(channel: channel)
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

    /// Counts a connection in as waiting on `port`; false when the port's cap is reached.
    private func startWaiting(_ port: Int) -> Bool {
        guard waiting[port, default: 0] < maxWaiting else { return false }
        waiting[port, default: 0] += 1
        return true
    }

    private func stopWaiting(_ port: Int) {
        waiting[port, default: 1] -= 1
        if waiting[port] == 0 { waiting[port] = nil }
    }

    /// Connections waiting for a replica on `port` now.
    public func waitingConnections(_ port: Int) -> Int { waiting[port] ?? 0 }

    private func closed(_ id: String) {
        open[id, default: 1] -= 1
        if open[id] == 0 { open[id] = nil }
    }

    /// A connection counts as waiting from the moment no replica is there to take it until it is
    /// spliced or given up; one that would pass the port's cap is closed then.
    private nonisolated func serve(_ accepted: any Channel, port: Int) async {
        var isWaiting = false
        func wait() async -> Bool {
            if !isWaiting { isWaiting = await startWaiting(port) }
            return isWaiting
        }
        func spliced() async {
            if isWaiting { await stopWaiting(port) }
            isWaiting = false
        }
        await connect(accepted, port: port, wait: wait, spliced: spliced)
        await spliced()
    }

    private nonisolated func connect(
        _ accepted: any Channel, port: Int, wait: () async -> Bool, spliced: () async -> Void
    ) async {
        let deadline = Date().addingTimeInterval(waitForBackend)
        var tried: Set<String> = []
        while !Task.isCancelled {
            guard let backend = await pick(port, excluding: tried) else {
                // Nothing (left) to try: wait for a replica to become ready, then try them all again.
                guard Date() < deadline, await wait() else { break }
                tried = []
                try? await Task.sleep(nanoseconds: 50_000_000)
                continue
            }
            let raw: any Channel
            let upstreamHold = HeldReference()
            do {
                raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(2))
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let hold = HoldUntilSpliced()
                            upstreamHold.handler = hold
                            try channel.pipeline.syncOperations.addHandler(hold)
                        }
                    }
                    .connect(host: backend.host, port: backend.port).get()
            } catch {
                await closed(backend.id)
                tried.insert(backend.id)
                continue
            }
            // Both ends are wrapped only once both exist, and from then on always closed through
            // executeThenClose (a wrapped channel must not be dropped).
            guard let client = try? await Self.wrap(accepted) else {
                accepted.close(promise: nil)
                raw.close(promise: nil)
                await closed(backend.id)
                return
            }
            guard let upstream = try? await Self.wrap(raw) else {
                // The backend answered and closed before it could be wrapped (a fast replica that
                // needs no request): its pipeline is gone, but what it sent is still held. Relay it.
                let answer = (try? await raw.eventLoop.submit { upstreamHold.handler?.heldData() ?? [] }.get()) ?? []
                raw.close(promise: nil)
                try? await client.executeThenClose { _, clientOut in
                    for buffer in answer { try await clientOut.write(buffer) }
                }
                await closed(backend.id)
                return
            }
            await spliced()
            await Self.splice(client, upstream, linger: lingerAfterBackend)
            await closed(backend.id)
            return
        }
        accepted.close(promise: nil)
    }

    /// Wraps a connected channel for async use on its event loop, then passes on what it held.
    private static func wrap(_ channel: any Channel) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await channel.eventLoop.submit {
            let wrapped = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            let hold = try channel.pipeline.syncOperations.handler(type: HoldUntilSpliced.self)
            _ = channel.pipeline.syncOperations.removeHandler(hold)
            return wrapped
        }.get()
    }

    /// Copies bytes both ways until both directions end; a half close is passed on. A direction
    /// that fails (a backend that resets after answering, a client gone) only ends that direction:
    /// the body returns, and `executeThenClose` closes the channels, only once the client has
    /// closed its side too, because a close while relayed bytes still wait in the client's writer
    /// drops them (a reset backend truncated answers that way under load). A client that keeps
    /// its side open after the backend ended is closed after `linger`.
    private static func splice(
        _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        linger: Duration
    ) async {
        enum Ended { case client, backend, linger }
        try? await client.executeThenClose { clientIn, clientOut in
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                await withTaskGroup(of: Ended.self) { group in
                    group.addTask {
                        var relaying = true
                        do {
                            // Read to the client's end even when the backend stopped taking bytes.
                            for try await buffer in clientIn where relaying {
                                do { try await upstreamOut.write(buffer) } catch { relaying = false }
                            }
                        } catch {}  // the client reset its connection
                        upstreamOut.finish()
                        return .client
                    }
                    group.addTask {
                        do {
                            for try await buffer in upstreamIn { try await clientOut.write(buffer) }
                        } catch {}  // a reset after the answer: what arrived is relayed
                        clientOut.finish()
                        return .backend
                    }
                    var ended: Set<Ended> = []
                    while let side = await group.next() {
                        ended.insert(side)
                        if side == .linger || ended.isSuperset(of: [.client, .backend]) { break }
                        if side == .backend {
                            group.addTask {
                                try? await Task.sleep(for: linger)
                                return .linger
                            }
                        }
                    }
                    group.cancelAll()
                }
            }
        }
    }
}

/// The upstream's hold handler, set and read on its channel's event loop only.
final class HeldReference: @unchecked Sendable {
    var handler: HoldUntilSpliced?
}

/// Holds what a connection delivers (bytes, its end, its closing) until the splice is attached, then
/// passes it on in order when removed: nothing a fast peer sends early is lost, and a connection
/// dropped before the splice needs no teardown. Once it holds `limit` bytes it stops reading (TCP
/// pushes back on the peer) until the splice takes over: a connection waiting for a replica costs
/// at most `limit` plus one read.
final class HoldUntilSpliced: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = Never

    static let limit = 64 * 1024
    private var paused = false

    private enum Held {
        case data(NIOAny)
        case event(Any)
        case inactive
    }

    private var held: [Held] = []
    private var bytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytes
        held.append(.data(data))
    }

    func read(context: ChannelHandlerContext) {
        guard bytes < Self.limit else {
            paused = true
            return
        }
        context.read()
    }

    func channelReadComplete(context: ChannelHandlerContext) {}

    /// The bytes held so far (for a connection that closed, and lost its pipeline, before the splice).
    func heldData() -> [ByteBuffer] {
        held.compactMap { item in
            if case .data(let data) = item { unwrapInboundIn(data) } else { nil }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { held.append(.event(event)) }

    func channelInactive(context: ChannelHandlerContext) { held.append(.inactive) }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        var read = false
        for item in held {
            switch item {
            case .data(let data):
                context.fireChannelRead(data)
                read = true
            case .event(let event):
                if read { context.fireChannelReadComplete() }
                read = false
                context.fireUserInboundEventTriggered(event)
            case .inactive:
                if read { context.fireChannelReadComplete() }
                read = false
                context.fireChannelInactive()
            }
        }
        if read { context.fireChannelReadComplete() }
        held = []
        bytes = 0
        if paused {
            paused = false
            context.read()
        }
        context.leavePipeline(removalToken: removalToken)
    }
}
