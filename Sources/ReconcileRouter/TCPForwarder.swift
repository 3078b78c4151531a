import Foundation
import NIOCore
import NIOPosix

/// A tcp-mode published port's connections: each is spliced to a ready replica (the fewest open
/// connections, ties in turn), its bytes copied both ways until both ends closed. A replica that
/// refuses is skipped; with none ready the connection waits (up to `waitForBackend`, at most
/// `maxWaiting` per port), holding at most 64 KiB of what its client sent meanwhile.
struct TCPForwarder: Sendable {
    let balancer: Balancer
    let waitForBackend: TimeInterval
    let lingerAfterBackend: Duration
    let maxWaiting: Int

    /// A connection counts as waiting from the moment no replica is there to take it until it is
    /// spliced or given up; one that would pass the port's cap is closed then.
    func serve(_ accepted: any Channel, key: RouteKey) async {
        let port = key.publish
        var isWaiting = false
        func wait() async -> Bool {
            if !isWaiting { isWaiting = balancer.startWaiting(port, limit: maxWaiting) }
            return isWaiting
        }
        func spliced() async {
            if isWaiting { balancer.stopWaiting(port) }
            isWaiting = false
        }
        await connect(accepted, key: key, wait: wait, spliced: spliced)
        await spliced()
    }

    private func connect(
        _ accepted: any Channel, key: RouteKey, wait: () async -> Bool, spliced: () async -> Void
    ) async {
        let deadline = Date().addingTimeInterval(waitForBackend)
        var tried: Set<String> = []
        while !Task.isCancelled {
            guard let backend = balancer.pick(key, excluding: tried) else {
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
                balancer.release(backend.id)
                tried.insert(backend.id)
                continue
            }
            // Both ends are wrapped only once both exist, and from then on always closed through
            // executeThenClose (a wrapped channel must not be dropped).
            guard let client = try? await Self.wrap(accepted) else {
                accepted.close(promise: nil)
                raw.close(promise: nil)
                balancer.release(backend.id)
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
                balancer.release(backend.id)
                return
            }
            await spliced()
            await Self.splice(client, upstream, linger: lingerAfterBackend)
            balancer.release(backend.id)
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
