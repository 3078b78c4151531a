import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client connection to an http-mode published port: its bytes are split into requests by
/// `RequestParser` (no HTTP codec runs on this side either), each request is routed by its Host
/// header, sent to the route's least busy ready replica over a pooled keep-alive connection
/// (`HTTPUpstream`, on this connection's event loop), and its response relayed as it arrives. A
/// replica that refuses or closes before answering gets an idempotent request sent to another;
/// otherwise the client gets 502. The connection's deadlines: the next request head within
/// `headTimeout` (first) or `keepAliveTimeout` (later), its body within `bodyTimeout`, and no more
/// than `upstreamTimeout` of silence from the replica.
final class HTTPFrontend: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let publish: Int
    private let balancer: Balancer
    private let limits: Router.Limits
    private let scheme: String
    private let observer: any RouterObserver

    private var context: ChannelHandlerContext?
    private var parser: RequestParser
    /// What the client sent that is not parsed yet: the rest of a read, or a pipelined request
    /// (sent before the last response ended) waiting its turn while reads pause.
    private var input = ByteBuffer()
    /// Response bytes not yet written: a small response's head, body and end go out as one write.
    private var outgoing: ByteBuffer?
    private var client = "unknown"
    private var exchange: HTTPExchange?
    /// A request answered here (unknown host, redirect, refusal): its body is read and dropped.
    private var discarding = false
    /// The connection switched protocols (or is switching): bytes go to the replica as they come.
    private var tunnel = false
    private var timer: Scheduled<Void>?
    /// When the scheduled check runs, and the deadline it checks.
    private var timerDue: NIODeadline?
    private var deadline = NIODeadline.distantFuture
    private var readHeld = false
    private var parsing = false
    private var admitted = false
    /// The client shut down its sending side: the connection closes after the answers due.
    private var inputClosed = false
    /// Bytes were written to the client since the last flush.
    private var unflushed = false
    /// The time of the read being handled (on either connection), read once for all its steps.
    private var eventTime: NIODeadline?
    private var eventDepth = 0

    init(publish: Int, balancer: Balancer, limits: Router.Limits, tls: Bool, observer: any RouterObserver) {
        self.publish = publish
        self.balancer = balancer
        self.limits = limits
        self.scheme = tls ? "https" : "http"
        self.observer = observer
        self.parser = RequestParser(limits: limits.parser)
    }

    // MARK: Connection

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
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
        } else {
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Reads pause while a pipelined request waits, while a tunnel is being set up, and while the
    /// replica cannot take what the client sends (or none takes it yet).
    func read(context: ChannelHandlerContext) {
        if tunnel || (input.readableBytes > 0 && exchange != nil && parser.awaitingHead) {
            readHeld = true
            return
        }
        if let exchange,
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
        eventStarts()
        defer { eventEnds() }
        var bytes = unwrapInboundIn(data)
        if input.readableBytes == 0 {
            input = bytes
        } else {
            input.writeBuffer(&bytes)
        }
        parse()
    }

    /// Takes requests from the input while they may start: a pipelined request (its head came
    /// before the last response ended) waits its turn. Holding reads for every request instead
    /// (NIO's pipelining handler) cost two epoll_ctl calls per request.
    private func parse() {
        // A request answered here ends inside the loop and comes back through `idle`: the loop
        // already running takes the next one (no recursion as deep as the requests pipelined).
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while !tunnel, context != nil {
            if exchange != nil, parser.awaitingHead { break }
            let event: RequestParser.Event?
            do {
                event = try parser.next(&input)
            } catch {
                refuse(error)
                return
            }
            guard let event else { break }
            process(event)
        }
        if input.readableBytes == 0, input.capacity > 0 { input = ByteBuffer() }
    }

    private func process(_ event: RequestParser.Event) {
        switch event {
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
            exchange.trailers = trailers
            exchange.lastUpstreamActivity = now()
            if let upstream = exchange.upstream {
                upstream.sendEnd(trailers)
                upstream.flush()
            }
            arm(limits.upstreamTimeout)
        }
    }

    /// What the client sent cannot be taken as HTTP: the router answers (when no response has
    /// started) and closes the connection, since where the next request starts is unknown.
    private func refuse(_ refusal: RequestParser.Refusal) {
        input = ByteBuffer()
        discarding = false
        if let exchange {
            abandon(exchange)
            self.exchange = nil
            if exchange.responseStarted {
                context?.close(promise: nil)
                return
            }
        }
        respondLocally(refusal.status, "\(refusal.reason)\n", close: true, method: .GET)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    private func started(_ head: ClientRequestHead) {
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
            if head.upgrade {
                startTunnel(head, route: route, key: key, host: host ?? "", requestID: requestID)
                return
            }
            let upstream = HTTPHeads.upstream(
                head, client: client, scheme: scheme, requestID: requestID,
                allocator: context?.channel.allocator ?? ByteBufferAllocator())
            let exchange = HTTPExchange(
                key: key, route: route, client: head, upstream: upstream, host: host ?? "", requestID: requestID,
                now: now())
            self.exchange = exchange
            arm(limits.bodyTimeout)
            dispatch(exchange)
        }
    }

    /// Answers a request here (no replica involved), dropping its body.
    private func local(
        _ head: ClientRequestHead, host: String?, requestID: String, _ status: HTTPResponseStatus, _ text: String,
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
        // A client waiting for 100 Continue does not send the body it announced: where its next
        // request would start is unknown, so the connection closes after the answer.
        let unsentBody = head.expectsContinue && (head.chunked || (head.contentLength ?? 0) > 0)
        respondLocally(status, text, close: !head.keepAlive || unsentBody, method: head.method, headers: headers)
    }

    /// Writes an answer of the router's own; with `close`, the connection closes once it is written.
    private func respondLocally(
        _ status: HTTPResponseStatus, _ text: String, close: Bool, method: HTTPMethod,
        headers extra: [(String, String)] = []
    ) {
        guard let context else { return }
        var bytes = context.channel.allocator.buffer(capacity: 192 + text.utf8.count)
        bytes.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        bytes.writeString("Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\n")
        for (name, value) in extra { bytes.writeString("\(name): \(value)\r\n") }
        if close { bytes.writeStaticString("Connection: close\r\n") }
        bytes.writeStaticString("\r\n")
        if method != .HEAD { bytes.writeString(text) }
        emit(bytes)
        let written = outgoing ?? ByteBuffer()
        outgoing = nil
        unflushed = false  // the flush below takes what was written before too
        guard close else {
            context.writeAndFlush(wrapOutboundOut(written), promise: nil)
            return
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(written), promise: done)
        done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    // MARK: Replicas

    /// Sends the exchange to a replica: a pooled connection if one is idle, else a new one. With no
    /// ready replica it waits (up to `waitForBackend`); with every replica tried it fails with 502.
    private func dispatch(_ exchange: HTTPExchange) {
        guard let context, self.exchange === exchange else { return }
        guard
            let (backend, pooledChannel, stale) = balancer.lease(
                exchange.key, excluding: exchange.tried, on: context.eventLoop, maxIdle: limits.upstreamIdle)
        else {
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
                exchange.waitDeadline = now() + limits.waitForBackend
            }
            if let deadline = exchange.waitDeadline, now() > deadline {
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
        for channel in stale { channel.close(promise: nil) }
        if let channel = pooledChannel,
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
        exchange.lastUpstreamActivity = now()
        upstream.frontend = self
        upstream.sendHead(exchange.upstreamHead, bodyless: exchange.head.method == .HEAD, chunked: exchange.chunkedBody)
        let parts = exchange.attempts > 1 && exchange.replayable ? exchange.replay : exchange.pending
        for part in parts { upstream.sendBody(part) }
        exchange.pending = []
        exchange.pendingBytes = 0
        if exchange.requestEnded { upstream.sendEnd(exchange.trailers) }
        upstream.flush()
        resumeReading()
    }

    /// Writes the client's head for the replica's and says whether the body goes on with its
    /// chunk framing (true) or as the data alone.
    func upstreamHead(_ head: UpstreamResponseHead) -> Bool {
        guard let context, let exchange else { return true }
        exchange.lastUpstreamActivity = now()
        exchange.responseStarted = true
        exchange.status = head.status
        // A final answer to a client that still waits for 100 Continue: it will not send the body,
        // so the connection cannot carry another request, and the head says so (RFC 9110 §10.1.1).
        if exchange.head.expectsContinue, !exchange.continued, !exchange.requestEnded { exchange.closeAfter = true }
        let (bytes, body) = HTTPHeads.downstream(head, exchange: exchange, allocator: context.channel.allocator)
        exchange.body = body
        emit(bytes)
        return body != .dechunked
    }

    /// A replica's interim head (100 Continue, 103 Early Hints) goes on to an HTTP/1.1 client as it
    /// came: a client that sent `Expect: 100-continue` waits for it before sending the body. An
    /// HTTP/1.0 client gets none (RFC 9110 §15.2). The final head may still come from another
    /// replica: nothing of the response has started.
    func upstreamInformational(_ head: UpstreamResponseHead) {
        guard let context, let exchange else { return }
        exchange.lastUpstreamActivity = now()
        guard !exchange.oldClient else { return }
        if head.status == 100 { exchange.continued = true }
        emit(HTTPHeads.informational(head, allocator: context.channel.allocator))
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
            unflushed = true
            context?.write(wrapOutboundOut(joined), promise: nil)
            outgoing = bytes
        }
    }

    /// Writes the queued response bytes (not flushed).
    private func writeOutgoing() {
        guard let bytes = outgoing else { return }
        outgoing = nil
        unflushed = true
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    /// Flushes what was written to the client, if anything was.
    private func flushClient() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }

    func upstreamBody(_ part: ByteBuffer) {
        guard let context, let exchange else { return }
        exchange.lastUpstreamActivity = now()
        exchange.responseBytes += part.readableBytes
        if exchange.body == .chunkedHere {
            HTTPHeads.chunk(part, allocator: context.channel.allocator) { emit($0) }
        } else {
            emit(part)
        }
    }

    func upstreamReadComplete() {
        writeOutgoing()
        flushClient()
    }

    func upstreamWritable() { resumeReading() }

    /// The response ended: the replica's connection goes back to the pool if both sides keep it.
    func upstreamEnd(reusable: Bool) {
        guard let context, let exchange, let upstream = exchange.upstream else { return }
        upstream.frontend = nil
        // The replica's count ends and its connection goes back (if both sides keep it) at once.
        let reuse = reusable && exchange.requestEnded
        let pooled = exchange.backend.map { balancer.release($0.id, returning: reuse ? upstream.channel : nil) }
        exchange.backend = nil
        if pooled != true { upstream.channel.close(promise: nil) }
        // A response that ends before its request did: the rest of the body has nowhere to go.
        if !exchange.requestEnded { exchange.closeAfter = true }
        // Counted before the end goes out: a client that reads it may look at the counts next.
        finish(exchange)
        if exchange.body == .chunkedHere { emit(ByteBuffer(staticString: "0\r\n\r\n")) }
        if exchange.closeAfter {
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(outgoing ?? ByteBuffer()), promise: done)
            outgoing = nil
            unflushed = false
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            writeOutgoing()
            flushClient()
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
            flushClient()
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
                status: exchange.status, duration: .nanoseconds((now() - exchange.started).nanoseconds),
                responseBytes: exchange.responseBytes,
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
        parse()
        exchange?.upstream?.flush()
        if inputClosed, exchange == nil, !discarding {
            context?.close(promise: nil)
            return
        }
        resumeReading()
    }

    // MARK: Deadlines

    /// A read on the client's connection or on its replica's begins: every step it takes reads the
    /// time once (ten clock reads per request were 2 % of the router's time).
    func eventStarts() {
        if eventDepth == 0 { eventTime = .now() }
        eventDepth += 1
    }

    func eventEnds() {
        eventDepth -= 1
        if eventDepth == 0 { eventTime = nil }
    }

    /// The time of the read being handled, or the time now outside one.
    private func now() -> NIODeadline { eventTime ?? .now() }

    /// Sets the connection's next deadline. One scheduled check per connection follows the
    /// deadlines lazily: it is moved only when a deadline comes earlier than it (scheduling and
    /// cancelling a timer three times per request was a tenth of the router's own time).
    private func arm(_ amount: TimeAmount) {
        deadline = now() + amount
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
    private func startTunnel(_ head: ClientRequestHead, route: Route, key: RouteKey, host: String, requestID: String) {
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
                    // The connection goes on as HTTP: the request's body (if any) is dropped.
                    parse()
                case .success(let upstream):
                    upstream.closeFuture.whenComplete { _ in
                        balancer.release(backend.id)
                        var finished = record
                        finished.duration = .now - started
                        observer.finished(finished)
                    }
                    // Bytes the client sent after the head (read before reads paused) follow it.
                    var sending = upstreamHead
                    sending.writeBuffer(&input)
                    input = ByteBuffer()
                    Tunnel.join(frontendChannel, upstream, sending: sending)
                }
            }
    }
}
