import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A small keep-alive HTTP/1.1 server on loopback standing in for a replica: it answers with its
/// name, and a few paths act out what real servers do:
/// - `/slow?ms=N` answers after N ms; `/headers` echoes the forwarding headers it got;
/// - `/echo` sends back the request body; `/stream?chunks=N` answers in N chunks;
/// - `/close` answers with `Connection: close` and closes; `/reset` closes without answering;
/// - `/hold?key=K` answers only when the test calls `release(K)`;
/// - `/ws` upgrades to a WebSocket that echoes every message;
/// - a request with `Expect: 100-continue` gets `100 Continue` before its body is read, except on
///   `/refuse`, which answers 417 at once without reading the body.
/// It counts the connections it accepted and has open, and the requests it answered.
public final class HTTPTestBackend: Sendable {
    public struct Counts: Sendable {
        public var accepted = 0
        public var open = 0
        public var requests = 0
    }

    public let name: String
    public let port: Int
    private let channel: any Channel
    private let shared: Shared

    final class Shared: Sendable {
        let counts = Mutex(Counts())
        /// Requests to `/hold?key=K` waiting for `release(K)`: each answers on its own event loop.
        let holds = Mutex<[String: [@Sendable () -> Void]]>([:])
    }

    /// Answers the requests held under `key` (`/hold?key=K`); returns how many there were.
    @discardableResult
    public func release(_ key: String) -> Int {
        let waiting = shared.holds.withLock { $0.removeValue(forKey: key) ?? [] }
        for answer in waiting { answer() }
        return waiting.count
    }

    /// Requests held under `key` now.
    public func held(_ key: String) -> Int { shared.holds.withLock { $0[key]?.count ?? 0 } }

    private init(name: String, port: Int, channel: any Channel, shared: Shared) {
        self.name = name
        self.port = port
        self.channel = channel
        self.shared = shared
    }

    /// What it counted so far.
    public var stats: Counts { shared.counts.withLock { $0 } }

    public static func start(_ name: String, host: String = "127.0.0.1", port: Int = 0) async throws -> HTTPTestBackend
    {
        let shared = Shared()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(head.uri == "/ws" ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(WebSocketEcho())
                            }
                        })
                    let handler = BackendHandler(name: name, shared: shared)
                    let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                // The WebSocket handler takes over from the HTTP one.
                                _ = context.pipeline.syncOperations.removeHandler(bound.value)
                            }
                        ))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: host, port: port).get()
        return HTTPTestBackend(name: name, port: channel.localAddress?.port ?? port, channel: channel, shared: shared)
    }

    /// Stops listening (open connections stay until their clients close them).
    public func stop() async { try? await channel.close() }
}

private final class BackendHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let shared: HTTPTestBackend.Shared
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(name: String, shared: HTTPTestBackend.Shared) {
        self.name = name
        self.shared = shared
    }

    func handlerAdded(context: ChannelHandlerContext) {
        shared.counts.withLock {
            $0.accepted += 1
            $0.open += 1
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        shared.counts.withLock { $0.open -= 1 }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            guard head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) else { return }
            if head.uri.hasPrefix("/refuse") {
                self.head = nil
                shared.counts.withLock { $0.requests += 1 }
                var headers = HTTPHeaders([("Content-Length", "0"), ("Connection", "close")])
                headers.add(name: "X-Backend", value: name)
                context.write(
                    wrapOutboundOut(
                        .head(HTTPResponseHead(version: .http1_1, status: .expectationFailed, headers: headers))),
                    promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            }
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            answer(context, head)
        }
    }

    private func query(_ uri: String, _ key: String) -> Int? {
        guard let range = uri.range(of: "\(key)=") else { return nil }
        return Int(uri[range.upperBound...].prefix { $0.isNumber })
    }

    private func answer(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = String(head.uri.prefix { $0 != "?" })
        shared.counts.withLock { $0.requests += 1 }
        switch path {
        case "/reset":
            context.close(promise: nil)
        case "/hold":
            let key = head.uri.components(separatedBy: "key=").last ?? ""
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            shared.holds.withLock {
                $0[key, default: []].append {
                    loop.execute { bound.value.0.respond(bound.value.1, head, ByteBuffer(string: bound.value.0.name)) }
                }
            }
        case "/slow":
            let delay = query(head.uri, "ms") ?? 100
            let loop = context.eventLoop.assumeIsolated()
            loop.scheduleTask(in: .milliseconds(Int64(delay))) { [self] in
                respond(context, head, ByteBuffer(string: name))
            }
        case "/headers":
            let seen = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id", "connection"].map {
                "\($0)=\(head.headers[$0].joined(separator: ","))"
            }
            respond(context, head, ByteBuffer(string: seen.joined(separator: "\n")))
        case "/echo":
            respond(context, head, body)
        case "/stream":
            var headers = HTTPHeaders([("Content-Type", "text/plain")])
            headers.add(name: "Transfer-Encoding", value: "chunked")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            for index in 0..<(query(head.uri, "chunks") ?? 3) {
                context.writeAndFlush(
                    wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "chunk \(index)\n")))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case "/close":
            respond(context, head, ByteBuffer(string: name), close: true)
        default:
            respond(context, head, ByteBuffer(string: name))
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ body: ByteBuffer, close: Bool = false
    ) {
        var headers = HTTPHeaders([("Content-Type", "text/plain"), ("Content-Length", "\(body.readableBytes)")])
        let keep = head.isKeepAlive && !close
        if !keep { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keep { done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}

/// Echoes each WebSocket message; answers a close with a close.
private final class WebSocketEcho: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)), promise: nil
            )
        case .connectionClose:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
            )
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default:
            break
        }
    }
}
