import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client connection to an http-mode published port (after NIO's HTTP server codec): each request
/// is routed by its Host header, sent to the route's least busy ready replica over a pooled
/// keep-alive connection (`HTTPUpstream`, on this connection's event loop), and its response
/// relayed as it arrives. A replica that refuses or closes before answering gets an idempotent
/// request sent to another; otherwise the client gets 502. The connection's deadlines: the next
/// request head within `headTimeout` (first) or `keepAliveTimeout` (later), its body within
/// `bodyTimeout`, and no more than `upstreamTimeout` of silence from the replica.
final class HTTPFrontend: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let publish: Int
    private let balancer: Balancer
    private let limits: Router.Limits
    private let scheme: String
    private let observer: any RouterObserver

    private var context: ChannelHandlerContext?
    /// Where a replica's response is written as it came: the HTTP encoder's own context, so the
    /// bytes go out past it (it only writes the router's own answers).
    private var raw: ChannelHandlerContext?
    /// Response bytes not yet written: a small response's head, body and end go out as one write.
    private var outgoing: ByteBuffer?
    private var client = "unknown"
    private var exchange: HTTPExchange?
    /// A request answered here (unknown host, redirect, refusal): its body is read and dropped.
    private var discarding = false
    private var tunnel = false
    private var timer: Scheduled<Void>?
    /// When the scheduled check runs, and the deadline it checks.
    private var timerDue: NIODeadline?
    private var deadline = NIODeadline.distantFuture
    private var readHeld = false
    private var admitted = false
    private var queued: [HTTPServerRequestPart] = []
    /// The client shut down its sending side: the connection closes after the answers due.
    private var inputClosed = false

    init(publish: Int, balancer: Balancer, limits: Router.Limits, tls: Bool, observer: any RouterObserver) {
        self.publish = publish
        self.balancer = balancer
        self.limits = limits
        self.scheme = tls ? "https" : "http"
        self.observer = observer
    }

    // MARK: Connection

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        raw = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        client = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard balancer.admit(limit: limits.maxConnections) else {
            context.close(promise: nil)
            return
        }
        admitted = true
        observer.connections(publish: publish, delta: 1)
        arm(limits.headTimeout)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        if let exchange { abandon(exchange) }
        exchange = nil
        if admitted {
            admitted = false
            balancer.closedConnection()
            observer.connections(publish: publish, delta: -1)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parse = error as? HTTPParserError, exchange == nil || exchange?.responseStarted == false {
            if let exchange { abandon(exchange) }
            exchange = nil
            let (status, text): (HTTPResponseStatus, String) =
                parse == .headerOverflow
                ? (.requestHeaderFieldsTooLarge, "request header fields too large\n")
                : (.badRequest, "bad request: \(parse)\n")
            respondLocally(status, text, close: true, method: .GET)
            return
        }
        context.close(promise: nil)
    }

    /// The client ended its sending side: a request in flight is still answered (then the
    /// connection closes); with none, it closes now.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed? = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        inputClosed = true
        if tunnel { return }
        if let exchange {
            exchange.closeAfter = true
            if !exchange.requestEnded {
                // The body never ended: nothing sensible can be answered.
                abandon(exchange)
                self.exchange = nil
                context.close(promise: nil)
            }
        } else if queued.isEmpty {
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Reads pause while the replica cannot take what the client sends (or none takes it yet).
    func read(context: ChannelHandlerContext) {
        if !tunnel, !queued.isEmpty {
            readHeld = true
            return
        }
        if !tunnel, let exchange,
            exchange.pendingBytes > limits.bufferedBytes
                || (exchange.upstream.map { !$0.isWritable } ?? false)
        {
            readHeld = true
            return
        }
        context.read()
    }

    private func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // A pipelined request (its head came before the last response ended) waits its turn; reads
        // pause meanwhile. Holding reads for every request instead (NIO's pipelining handler) cost
        // two epoll_ctl calls per request.
        if !queued.isEmpty || (exchange != nil && part.isHead) {
            queued.append(part)
            return
        }
        process(part)
    }

    /// Takes up pipelined requests once the exchange before them ended.
    private func takeQueued() {
        while let next = queued.first, !(exchange != nil && next.isHead), !tunnel {
            queued.removeFirst()
            process(next)
        }
        exchange?.upstream?.flush()
    }

    private func process(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head): started(head)
        case .body(let part):
            guard !discarding, let exchange else { return }
            exchange.add(part, replayLimit: limits.replayBytes)
            if let upstream = exchange.upstream {
                upstream.sendBody(part)
                exchange.pending = []
                exchange.pendingBytes = 0
            }
        case .end(let trailers):
            if discarding {
                discarding = false
                idle()
                return
            }
            guard let exchange else { return }
            exchange.requestEnded = true
            exchange.lastUpstreamActivity = .now()
            if let upstream = exchange.upstream {
                upstream.sendEnd(trailers)
                upstream.flush()
            }
            arm(limits.upstreamTimeout)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    private func started(_ head: HTTPRequestHead) {
        let host = HTTPHeads.host(head)
        let requestID = HTTPHeads.requestID(head)
        if let host, !HTTPHeads.isHostName(host) {
            // It would be echoed into a redirect's Location and the access log.
            local(
                head, host: nil, requestID: requestID, .badRequest, "bad request: the Host header is not a host name\n")
            return
        }
        let (resolution, route) = balancer.resolve(port: publish, host: host)
        switch resolution {
        case .unknownHost:
            local(
                head, host: host, requestID: requestID, .notFound,
                "no app answers host \(host ?? "(none)") on port \(publish)\n")
        case .redirect(let httpsPort):
            let name = host ?? "localhost"
            let location = "https://\(name)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(head.uri)"
            local(
                head, host: host, requestID: requestID, .permanentRedirect, "moved to \(location)\n",
                headers: [("Location", location)])
        case .route:
            guard let route else { return }
            let key = RouteKey(publish: publish, app: route.app, port: route.port)
            if HTTPHeads.isUpgrade(head) {
                startTunnel(head, route: route, key: key, host: host ?? "", requestID: requestID)
                return
            }
            let upstream = HTTPHeads.upstream(
                head, client: client, scheme: scheme, requestID: requestID,
                allocator: context?.channel.allocator ?? ByteBufferAllocator())
            let exchange = HTTPExchange(
                key: key, route: route, client: head, upstream: upstream, host: host ?? "", requestID: requestID)
            self.exchange = exchange
            arm(limits.bodyTimeout)
            dispatch(exchange)
        }
    }

    /// Answers a request here (no replica involved), dropping its body.
    private func local(
        _ head: HTTPRequestHead, host: String?, requestID: String, _ status: HTTPResponseStatus, _ text: String,
        headers: [(String, String)] = []
    ) {
        discarding = true
        arm(limits.bodyTimeout)
        // Counted before the answer goes out: a client that reads it may look at the counts next.
        observer.finished(
            RequestRecord(
                app: "", port: "", publish: publish, method: head.method.rawValue, uri: head.uri, host: host ?? "",
                status: Int(status.code), duration: .zero, responseBytes: text.utf8.count, backend: nil, retries: 0,
                client: client, requestID: requestID, accessLog: false, time: Date()))
        respondLocally(status, text, close: !head.isKeepAlive, method: head.method, headers: headers)
    }

    private func respondLocally(
        _ status: HTTPResponseStatus, _ text: String, close: Bool, method: HTTPMethod,
        headers extra: [(String, String)] = []
    ) {
        guard let context else { return }
        var headers = HTTPHeaders([
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "\(text.utf8.count)"),
        ])
        for (name, value) in extra { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        }
        end(context, trailers: nil, close: close)
    }

    /// Writes a response's end; with `close`, the connection closes once it is written.
    private func end(_ context: ChannelHandlerContext, trailers: HTTPHeaders?, close: Bool) {
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: done)
        if close { done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    // MARK: Replicas

    /// Sends the exchange to a replica: a pooled connection if one is idle, else a new one. With no
    /// ready replica it waits (up to `waitForBackend`); with every replica tried it fails with 502.
    private func dispatch(_ exchange: HTTPExchange) {
        guard let context, self.exchange === exchange else { return }
        guard let backend = balancer.pick(exchange.key, excluding: exchange.tried) else {
            if !exchange.tried.isEmpty {
                fail(exchange, .badGateway, "bad gateway: no replica of \(exchange.route.app) answered\n")
                return
            }
            if !exchange.waiting {
                guard balancer.startWaiting(publish, limit: limits.maxWaiting) else {
                    fail(exchange, .serviceUnavailable, "service unavailable: too many requests wait for a replica\n")
                    return
                }
                exchange.waiting = true
                exchange.waitDeadline = .now() + limits.waitForBackend
            }
            if let deadline = exchange.waitDeadline, .now() > deadline {
                fail(exchange, .serviceUnavailable, "service unavailable: no ready replica of \(exchange.route.app)\n")
                return
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { [self] in dispatch(exchange) }
            return
        }
        stopWaiting(exchange)
        exchange.backend = backend
        exchange.answeredBy = backend.id
        exchange.attempts += 1
        let pooled = balancer.checkout(backend.id, on: context.eventLoop, maxIdle: limits.upstreamIdle)
        for channel in pooled.stale { channel.close(promise: nil) }
        if let channel = pooled.channel,
            let upstream = try? channel.pipeline.syncOperations.handler(type: HTTPUpstream.self)
        {
            attach(upstream, to: exchange, reused: true)
            return
        }
        let balancer = self.balancer
        ClientBootstrap(group: context.eventLoop)
            .connectTimeout(limits.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // No HTTP codec: the handler writes requests and frames responses itself.
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPUpstream(backend: backend.id, balancer: balancer))
                }
            }
            .connect(host: backend.host, port: backend.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard self.exchange === exchange, exchange.backend == backend,
                        let upstream = try? channel.pipeline.syncOperations.handler(type: HTTPUpstream.self)
                    else {
                        channel.close(promise: nil)
                        return
                    }
                    attach(upstream, to: exchange, reused: false)
                case .failure:
                    // Nothing was sent: any request may go to another replica.
                    guard self.exchange === exchange, exchange.backend == backend else { return }
                    balancer.release(backend.id)
                    exchange.backend = nil
                    exchange.tried.insert(backend.id)
                    dispatch(exchange)
                }
            }
    }

    private func attach(_ upstream: HTTPUpstream, to exchange: HTTPExchange, reused: Bool) {
        exchange.upstream = upstream
        exchange.reused = reused
        exchange.lastUpstreamActivity = .now()
        upstream.frontend = self
        upstream.sendHead(exchange.upstreamHead, bodyless: exchange.head.method == .HEAD, chunked: exchange.chunkedBody)
        let parts = exchange.attempts > 1 && exchange.replayable ? exchange.replay : exchange.pending
        for part in parts { upstream.sendBody(part) }
        exchange.pending = []
        exchange.pendingBytes = 0
        if exchange.requestEnded { upstream.sendEnd(nil) }
        upstream.flush()
        resumeReading()
    }

    /// Writes the client's head for the replica's and says whether the body goes on with its
    /// chunk framing (true) or as the data alone.
    func upstreamHead(_ head: UpstreamResponseHead) -> Bool {
        guard let raw, let exchange else { return true }
        exchange.lastUpstreamActivity = .now()
        exchange.responseStarted = true
        exchange.status = head.status
        let (bytes, body) = HTTPHeads.downstream(head, exchange: exchange, allocator: raw.channel.allocator)
        exchange.body = body
        emit(bytes)
        return body != .dechunked
    }

    /// Queues response bytes, joined to those queued already while the result stays small.
    private func emit(_ bytes: ByteBuffer) {
        guard var joined = outgoing else {
            outgoing = bytes
            return
        }
        if joined.readableBytes + bytes.readableBytes <= 16 * 1024 {
            outgoing = nil
            joined.writeImmutableBuffer(bytes)
            outgoing = joined
        } else {
            raw?.write(NIOAny(joined), promise: nil)
            outgoing = bytes
        }
    }

    /// Writes the queued response bytes (not flushed).
    private func writeOutgoing() {
        guard let bytes = outgoing else { return }
        outgoing = nil
        raw?.write(NIOAny(bytes), promise: nil)
    }

    func upstreamBody(_ part: ByteBuffer) {
        guard let raw, let exchange else { return }
        exchange.lastUpstreamActivity = .now()
        exchange.responseBytes += part.readableBytes
        if exchange.body == .chunkedHere {
            HTTPHeads.chunk(part, allocator: raw.channel.allocator) { emit($0) }
        } else {
            emit(part)
        }
    }

    func upstreamReadComplete() {
        writeOutgoing()
        context?.flush()
    }

    func upstreamWritable() { resumeReading() }

    /// The response ended: the replica's connection goes back to the pool if both sides keep it.
    func upstreamEnd(reusable: Bool) {
        guard let context, let raw, let exchange, let upstream = exchange.upstream else { return }
        upstream.frontend = nil
        if reusable, exchange.requestEnded, let backend = exchange.backend,
            balancer.checkin(backend.id, upstream.channel)
        {
            // pooled
        } else {
            upstream.channel.close(promise: nil)
        }
        // A response that ends before its request did: the rest of the body has nowhere to go.
        if !exchange.requestEnded { exchange.closeAfter = true }
        // Counted before the end goes out: a client that reads it may look at the counts next.
        finish(exchange)
        if exchange.body == .chunkedHere { emit(ByteBuffer(staticString: "0\r\n\r\n")) }
        if exchange.closeAfter {
            let done = context.eventLoop.makePromise(of: Void.self)
            raw.writeAndFlush(NIOAny(outgoing ?? ByteBuffer()), promise: done)
            outgoing = nil
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            writeOutgoing()
            context.flush()
            idle()
        }
    }

    /// The replica's connection closed or failed before the response ended.
    func upstreamFailed() {
        guard let exchange, let backend = exchange.backend else { return }
        exchange.upstream?.frontend = nil
        exchange.upstream = nil
        if exchange.responseStarted {
            // Part of the answer was sent: the client can only learn of it by the connection's end.
            exchange.status = 502
            finish(exchange)
            writeOutgoing()
            context?.flush()
            context?.close(promise: nil)
            return
        }
        balancer.release(backend.id)
        exchange.backend = nil
        // An idle pooled connection the replica closed meanwhile does not count against the replica.
        if !exchange.reused { exchange.tried.insert(backend.id) }
        if exchange.replayable, exchange.attempts < limits.maxAttempts {
            dispatch(exchange)
        } else {
            fail(
                exchange, .badGateway,
                "bad gateway: replica \(backend.id.prefix(12)) closed the connection before answering\n")
        }
    }

    /// No response byte from the replica for `upstreamTimeout`.
    private func upstreamTimedOut(_ exchange: HTTPExchange) {
        exchange.upstream?.frontend = nil
        exchange.upstream?.channel.close(promise: nil)
        exchange.upstream = nil
        if exchange.responseStarted {
            exchange.status = 504
            finish(exchange)
            context?.close(promise: nil)
        } else {
            if let backend = exchange.backend { balancer.release(backend.id) }
            exchange.backend = nil
            fail(exchange, .gatewayTimeout, "gateway timeout: the replica did not answer in time\n")
        }
    }

    /// Answers the exchange's client with an error of the router's own and closes the connection
    /// when its request has not ended (its body would otherwise have to be read to the end).
    private func fail(_ exchange: HTTPExchange, _ status: HTTPResponseStatus, _ text: String) {
        stopWaiting(exchange)
        exchange.status = Int(status.code)
        exchange.responseBytes = text.utf8.count
        let close = exchange.closeAfter || !exchange.requestEnded
        finish(exchange)
        respondLocally(status, text, close: close, method: exchange.head.method)
        if !close { idle() }
    }

    /// Counts the exchange out: metrics, the access log, the replica's busy count.
    private func finish(_ exchange: HTTPExchange) {
        stopWaiting(exchange)
        if let backend = exchange.backend {
            balancer.release(backend.id)
            exchange.backend = nil
        }
        self.exchange = nil
        observer.finished(
            RequestRecord(
                app: exchange.route.app, port: exchange.route.port, publish: publish,
                method: exchange.head.method.rawValue, uri: exchange.head.uri, host: exchange.host,
                status: exchange.status, duration: .now - exchange.started, responseBytes: exchange.responseBytes,
                backend: exchange.answeredBy,
                retries: max(exchange.attempts - 1, 0), client: client, requestID: exchange.requestID,
                accessLog: exchange.route.accessLog, time: exchange.time))
    }

    /// The client went away mid-exchange: the replica's connection cannot be reused.
    private func abandon(_ exchange: HTTPExchange) {
        stopWaiting(exchange)
        if let upstream = exchange.upstream {
            upstream.frontend = nil
            upstream.channel.close(promise: nil)
        }
        if let backend = exchange.backend { balancer.release(backend.id) }
        exchange.backend = nil
    }

    private func stopWaiting(_ exchange: HTTPExchange) {
        if exchange.waiting {
            exchange.waiting = false
            balancer.stopWaiting(publish)
        }
    }

    /// Between requests: the next head is due within the keep-alive timeout (or is here already).
    private func idle() {
        arm(limits.keepAliveTimeout)
        takeQueued()
        if inputClosed, exchange == nil, queued.isEmpty, !discarding {
            context?.close(promise: nil)
            return
        }
        if queued.isEmpty { resumeReading() }
    }

    // MARK: Deadlines

    /// Sets the connection's next deadline. One scheduled check per connection follows the
    /// deadlines lazily: it is moved only when a deadline comes earlier than it (scheduling and
    /// cancelling a timer three times per request was a tenth of the router's own time).
    private func arm(_ amount: TimeAmount) {
        deadline = .now() + amount
        if let due = timerDue, due <= deadline { return }
        schedule(deadline)
    }

    private func schedule(_ due: NIODeadline) {
        timer?.cancel()
        guard let context else { return }
        timerDue = due
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            timerDue = nil
            check()
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerDue = nil
    }

    /// The scheduled check: the deadline in force now (for a response, the replica's last sign of
    /// life plus `upstreamTimeout`) either passed or the check is moved to it.
    private func check() {
        guard context != nil, !tunnel else { return }
        let due =
            exchange.map { $0.requestEnded ? $0.lastUpstreamActivity + limits.upstreamTimeout : deadline } ?? deadline
        if NIODeadline.now() < due {
            schedule(due)
        } else {
            expired()
        }
    }

    private func expired() {
        guard let context else { return }
        if let exchange, exchange.requestEnded {
            upstreamTimedOut(exchange)
            return
        }
        // A head or body that did not arrive in time (a slow client holds nothing for long).
        if let exchange { abandon(exchange) }
        exchange = nil
        context.close(promise: nil)
    }

    // MARK: Upgrades

    /// A request to switch protocols (WebSocket) takes a connection of its own to a replica: the
    /// head is sent as it came (with the forwarding headers), and from then on bytes are relayed
    /// both ways until either side closes. The replica counts as busy until then.
    private func startTunnel(_ head: HTTPRequestHead, route: Route, key: RouteKey, host: String, requestID: String) {
        guard let context else { return }
        guard let backend = balancer.pick(key, excluding: []) else {
            local(
                head, host: host, requestID: requestID, .serviceUnavailable, "service unavailable: no ready replica\n")
            return
        }
        tunnel = true
        stopTimer()
        let upstreamHead = HTTPHeads.upstream(
            head, client: client, scheme: scheme, requestID: requestID, keepUpgrade: true,
            allocator: context.channel.allocator
        ).bytes
        let balancer = self.balancer
        let frontendChannel = context.channel
        let started = ContinuousClock.now
        let record = RequestRecord(
            app: route.app, port: route.port, publish: publish, method: head.method.rawValue, uri: head.uri, host: host,
            status: 101, duration: .zero, responseBytes: 0, backend: backend.id, retries: 0, client: client,
            requestID: requestID, accessLog: route.accessLog, time: Date())
        let observer = self.observer
        ClientBootstrap(group: context.eventLoop)
            .connectTimeout(limits.connectTimeout)
            .connect(host: backend.host, port: backend.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .failure:
                    balancer.release(backend.id)
                    tunnel = false
                    local(head, host: host, requestID: requestID, .badGateway, "bad gateway: the replica refused\n")
                case .success(let upstream):
                    upstream.closeFuture.whenComplete { _ in
                        balancer.release(backend.id)
                        var finished = record
                        finished.duration = .now - started
                        observer.finished(finished)
                    }
                    Tunnel.join(frontendChannel, upstream, sending: upstreamHead)
                }
            }
    }
}

extension HTTPServerRequestPart {
    var isHead: Bool {
        if case .head = self { true } else { false }
    }
}
