import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReconcileModel
import ReconcileRouter
import ReconcileTesting
import Testing

/// The router's http mode against keep-alive HTTP servers on loopback.
@Suite(.timeLimit(.minutes(10))) struct HTTPRouterTests {
    @Test func requestsAreBalancedPerRequestOverPooledKeepAliveConnections() async throws {
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let observer = RecordingObserver()
        // Pooled connections stay reusable however slowly the busy suite lets this test go.
        var limits = Router.Limits()
        limits.upstreamIdle = .minutes(10)
        let router = Router(limits: limits, observer: observer)
        let port = try await serving(
            router, httpPort([Route(app: "web", port: "http", backends: [a.backend, b.backend])]))
        let client = keepAliveClient(connections: 1)
        var answers: [String] = []
        for _ in 0..<20 { answers.append(try await send(client, "http://127.0.0.1:\(port)/").body) }
        try await client.shutdown()
        // One client connection carried every request, and each went to a replica of its own choosing.
        #expect(observer.opened == 1)
        #expect(answers.filter { $0 == "a" }.count == 10, "answers: \(answers)")
        #expect(answers.filter { $0 == "b" }.count == 10)
        // Both replicas were reached over one pooled connection each, not one per request.
        #expect(a.stats.accepted == 1 && b.stats.accepted == 1, "a: \(a.stats), b: \(b.stats)")
        #expect(observer.records.allSatisfy { $0.status == 200 && $0.app == "web" && $0.port == "http" })
        await router.shutdown()
        await a.stop()
        await b.stop()
    }

    /// A pooled connection idle past `upstreamIdle` is closed rather than reused (the replica may be
    /// closing it at that very moment).
    @Test func aConnectionIdleTooLongIsNotReused() async throws {
        let a = try await HTTPTestBackend.start("a")
        var limits = Router.Limits()
        limits.upstreamIdle = .milliseconds(200)
        let router = Router(limits: limits)
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let client = keepAliveClient(connections: 1)
        #expect(try await send(client, "http://127.0.0.1:\(port)/").body == "a")
        #expect(a.stats.accepted == 1)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await send(client, "http://127.0.0.1:\(port)/").body == "a")
        #expect(a.stats.accepted == 2, "\(a.stats)")
        let deadline = Date().addingTimeInterval(30)
        while a.stats.open > 1, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(a.stats.open == 1, "the stale connection was not closed: \(a.stats)")
        try await client.shutdown()
        await router.shutdown()
    }

    /// The least busy replica takes the next request: while `a` holds one that does not end until
    /// its client leaves, the others go to `b`.
    @Test func theReplicaWithFewerRequestsInFlightIsPicked() async throws {
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        // A raw client: its request (10 minutes) stays in flight on `a` until the socket closes.
        let held = try #require(Loopback.connected(port: port))
        let request = Array("GET /slow?ms=600000 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(held, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(await eventually { await router.openConnections("a") == 1 }, "the held request did not reach a")
        await router.update(ports: [
            port: httpPort([Route(app: "web", port: "http", backends: [a.backend, b.backend])])
        ])
        let client = keepAliveClient(connections: 8)
        var quick: [String] = []
        for _ in 0..<6 { quick.append(try await send(client, "http://127.0.0.1:\(port)/").body) }
        #expect(quick == Array(repeating: "b", count: 6), "answers while a was busy: \(quick)")
        // The client leaving (a reset: a plain close reads as a half-close, and a client that only
        // stopped sending still gets its answer) ends its request: `a` is free again.
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(held, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        close(held)
        let deadline = Date().addingTimeInterval(60)
        while await router.openConnections("a") > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await router.openConnections("a") == 0)
        try await client.shutdown()
        await router.shutdown()
    }

    /// A drained replica finishes the request it has, its pooled connections close, and the client's
    /// keep-alive connection carries its next requests to the other replica without an error.
    @Test func aDrainedReplicaFinishesItsRequestAndTheClientConnectionMovesOn() async throws {
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let observer = RecordingObserver()
        let router = Router(observer: observer)
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let client = keepAliveClient(connections: 1)
        #expect(try await send(client, "http://127.0.0.1:\(port)/").body == "a")
        // A request that `a` answers only when the test says so: in flight for as long as needed.
        async let slow = send(client, "http://127.0.0.1:\(port)/hold?key=drain")
        #expect(await eventually { a.held("drain") == 1 }, "the held request did not reach a")
        await router.update(ports: [
            port: httpPort([Route(app: "web", port: "http", backends: [a.backend, b.backend])])
        ])
        let drained = Task { await router.drain("a", grace: .seconds(600)) }
        #expect(await eventually { await router.pool(port).map(\.id) == ["b"] })
        a.release("drain")
        #expect(try await slow == (200, "a"), "the request in flight on the drained replica must finish")
        await drained.value
        #expect(await router.openConnections("a") == 0)
        var after: [String] = []
        for _ in 0..<5 { after.append(try await send(client, "http://127.0.0.1:\(port)/").body) }
        #expect(after == Array(repeating: "b", count: 5))
        #expect(observer.opened == 1, "the client's connection stayed open across the drain")
        // The router closed its idle connection to the drained replica.
        let deadline = Date().addingTimeInterval(30)
        while a.stats.open > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(a.stats.open == 0, "\(a.stats)")
        try await client.shutdown()
        await router.shutdown()
    }

    @Test func anIdempotentRequestGoesToAnotherReplicaWhenOneClosesBeforeAnswering() async throws {
        let good = try await HTTPTestBackend.start("good")
        let closing = try await ClosingServer.start()
        let refusing = try Loopback.refusingPort()
        defer { close(refusing.descriptor) }
        let observer = RecordingObserver()
        let router = Router(observer: observer)
        let port = try await serving(
            router,
            httpPort([
                Route(
                    app: "web", port: "http",
                    backends: [
                        closing.backend(), Backend(id: "refusing", host: "127.0.0.1", port: refusing.port),
                        good.backend,
                    ])
            ]))
        let client = keepAliveClient(connections: 2)
        for _ in 0..<9 { #expect(try await send(client, "http://127.0.0.1:\(port)/") == (200, "good")) }
        #expect(observer.records.contains { $0.retries > 0 }, "no request needed a second replica")
        // A refused connection sent nothing: a POST may go elsewhere too.
        await router.update(ports: [
            port: httpPort([
                Route(
                    app: "web", port: "http",
                    backends: [Backend(id: "refusing", host: "127.0.0.1", port: refusing.port), good.backend])
            ])
        ])
        for _ in 0..<4 {
            #expect(
                try await send(client, "http://127.0.0.1:\(port)/echo", method: .POST, body: ByteBuffer(string: "x"))
                    == (200, "x"))
        }
        // A POST the replica may have seen is not sent twice: 502.
        await router.update(ports: [port: httpPort([Route(app: "web", port: "http", backends: [closing.backend()])])])
        let post = try await send(client, "http://127.0.0.1:\(port)/echo", method: .POST, body: ByteBuffer(string: "x"))
        #expect(post.status == 502)
        #expect(post.body.contains("closed the connection before answering"), "\(post.body)")
        try await client.shutdown()
        await router.shutdown()
        try await closing.channel.close()
    }

    @Test func theHostHeaderPicksTheAppAndAnUnknownHostGets404() async throws {
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let router = Router()
        let port = try await serving(
            router,
            httpPort([
                Route(app: "web", port: "http", hosts: ["a.test"], backends: [a.backend]),
                Route(app: "shop", port: "http", hosts: ["b.test", "shop.test"], backends: [b.backend]),
            ]))
        func get(_ host: String) async -> String {
            await RawHTTP.exchange(port: port, "GET / HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n").text
        }
        #expect(await get("a.test").hasSuffix("\r\n\r\na"))
        #expect(await get("B.Test:8080").hasSuffix("\r\n\r\nb"))
        #expect(await get("shop.test").hasSuffix("\r\n\r\nb"))
        let malformed = await get("a.test/evil")
        #expect(malformed.hasPrefix("HTTP/1.1 400"), "\(malformed)")
        let unknown = await get("c.test")
        #expect(unknown.hasPrefix("HTTP/1.1 404"), "\(unknown)")
        #expect(unknown.contains("no app answers host c.test on port \(port)"))
        await router.shutdown()
    }

    /// Requests a client pipelines (sends before the answers) are answered in order.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let router = Router()
        let port = try await serving(
            router, httpPort([Route(app: "web", port: "http", backends: [a.backend, b.backend])]))
        let requests =
            "GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond"
            + "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthird"
        let answer = await RawHTTP.exchange(port: port, requests)
        #expect(answer.closed)
        let bodies = answer.text.components(separatedBy: "HTTP/1.1 200 OK").dropFirst().map {
            $0.components(separatedBy: "\r\n\r\n").last ?? ""
        }
        #expect(bodies.count == 3, "\(answer.text)")
        #expect(["a", "b"].contains(bodies.first ?? ""))
        #expect(Array(bodies.dropFirst()) == ["second", "third"], "\(answer.text)")
        await router.shutdown()
    }

    @Test func replicasSeeWhoAskedAndTheRequestID() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let given = await RawHTTP.exchange(
            port: port,
            "GET /headers HTTP/1.1\r\nHost: api.test:\(port)\r\nX-Request-Id: abc-123\r\nX-Forwarded-For: 10.1.1.1\r\n"
                + "Connection: close, X-Secret\r\nX-Secret: hop\r\n\r\n"
        ).text
        #expect(given.contains("x-forwarded-for=10.1.1.1, 127.0.0.1"), "\(given)")
        #expect(given.contains("x-forwarded-proto=http\n"))
        #expect(given.contains("x-forwarded-host=api.test:\(port)\n"))
        #expect(given.contains("x-request-id=abc-123\n"))
        // Hop-by-hop headers stay on the client's connection.
        #expect(given.contains("connection=\n") || given.hasSuffix("connection="))
        let fresh = await RawHTTP.exchange(port: port, "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .text
        let id = fresh.split(separator: "\n").first { $0.hasPrefix("x-request-id=") }.map { String($0.dropFirst(13)) }
        #expect(id?.count == 32 && id?.allSatisfy(\.isHexDigit) == true, "generated id: \(id ?? "none")")
        let next = await RawHTTP.exchange(port: port, "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .text
        #expect(!next.contains("x-request-id=\(id ?? "")\n"), "two requests got one id")
        await router.shutdown()
    }

    @Test func tlsPicksTheCertificateByServerNameAndPlainHTTPRedirects() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("router-tls-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let certificates = try await Blocking.run { try HostCertificates(folder: folder, hosts: ["a.test", "b.test"]) }
        func pem(_ host: String) throws -> CertificatePEM {
            CertificatePEM(
                chain: try String(contentsOfFile: certificates.cert(host), encoding: .utf8),
                key: try String(contentsOfFile: certificates.key(host), encoding: .utf8))
        }
        let (a, b) = (try await HTTPTestBackend.start("a"), try await HTTPTestBackend.start("b"))
        let router = Router()
        let secure = try await serving(
            router,
            httpPort([
                Route(
                    app: "web", port: "https", hosts: ["a.test"], backends: [a.backend], certificate: try pem("a.test")),
                Route(
                    app: "shop", port: "https", hosts: ["b.test"], backends: [b.backend], certificate: try pem("b.test")
                ),
            ]))
        // Each host's certificate verifies for that host only, so the server chose it by SNI.
        #expect(
            try await tlsGet(port: secure, host: "a.test", path: "/headers", ca: certificates.ca).contains(
                "x-forwarded-proto=https"))
        #expect(try await tlsGet(port: secure, host: "a.test", ca: certificates.ca) == "a")
        #expect(try await tlsGet(port: secure, host: "b.test", ca: certificates.ca) == "b")
        // Plain HTTP on another port answers a.test with a redirect to HTTPS.
        let plain = try Loopback.freePort()
        let errors = await router.update(ports: [
            secure: httpPort([
                Route(
                    app: "web", port: "https", hosts: ["a.test"], backends: [a.backend], certificate: try pem("a.test"))
            ]),
            plain: httpPort([], redirects: [Redirect(hosts: ["a.test"], httpsPort: secure)]),
        ])
        #expect(errors.isEmpty, "\(errors)")
        let redirect = await RawHTTP.exchange(
            port: plain, "GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        ).text
        #expect(redirect.hasPrefix("HTTP/1.1 308"), "\(redirect)")
        #expect(redirect.contains("Location: https://a.test:\(secure)/x?y=1\r\n"))
        await router.shutdown()
    }

    @Test func aWebSocketEchoesThroughTheRouter() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        /// Upgrades a connection and sends one text frame: after the 101 (`eager` false) or in the
        /// same packet as the request, before the answer. The head received and the echo.
        func webSocket(_ text: String, eager: Bool) async -> (head: String, echo: [UInt8]) {
            await Blocking.run { () -> (String, [UInt8]) in
                guard let fd = Loopback.connected(port: port) else { return ("refused", []) }
                defer { close(fd) }
                var limit = timeval(tv_sec: 30, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                func send(_ bytes: [UInt8]) {
                    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                let request =
                    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                send(Array(request.utf8) + (eager ? maskedTextFrame(text) : []))
                var received = [UInt8]()
                var byte: UInt8 = 0
                while !received.suffix(4).elementsEqual([13, 10, 13, 10]), recv(fd, &byte, 1, 0) == 1 {
                    received.append(byte)
                }
                if !eager { send(maskedTextFrame(text)) }
                var echo = [UInt8]()
                while echo.count < 2 + text.utf8.count, recv(fd, &byte, 1, 0) == 1 { echo.append(byte) }
                return (String(decoding: received, as: UTF8.self), echo)
            }
        }
        let (head, echo) = await webSocket("hello", eager: false)
        #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
        #expect(head.lowercased().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="))
        #expect(echo == [0x81, 0x05] + Array("hello".utf8), "echo: \(echo)")
        // A frame sent in the same packet as the upgrade request (before the 101) reaches the replica too.
        let eager = await webSocket("early", eager: true).echo
        #expect(eager == [0x81, 0x05] + Array("early".utf8), "echo: \(eager)")
        await router.shutdown()
    }

    /// A client that sends `Expect: 100-continue` waits for the replica's 100 Continue before its
    /// body; a replica's final answer instead (417) ends the connection (the body never comes), and
    /// so does one of the router's own (404); an HTTP/1.0 client gets no interim answer.
    @Test func aClientExpectingContinueGetsTheReplicasInterimAnswer() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(
            router, httpPort([Route(app: "web", port: "http", hosts: ["a"], backends: [a.backend])]))
        let post = "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        let continued = await RawHTTP.conversation(
            port: port,
            [(post, "\r\n\r\n"), ("hello", "hello"), ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\r\n\r\na")])
        #expect(continued.replies.first == "HTTP/1.1 100 Continue\r\n\r\n", "\(continued.replies)")
        #expect(continued.replies.dropFirst().first?.hasPrefix("HTTP/1.1 200") == true, "\(continued.replies)")
        #expect(continued.replies.last?.hasPrefix("HTTP/1.1 200") == true, "the connection carries the next request")
        #expect(!continued.closed)

        // The replica answers without asking for the body: the client will not send it.
        let refused = await RawHTTP.conversation(
            port: port,
            [("POST /refuse HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", nil)])
        #expect(refused.replies.first?.hasPrefix("HTTP/1.1 417") == true, "\(refused.replies)")
        #expect(refused.replies.first?.contains("Connection: close") == true, "\(refused.replies)")
        #expect(refused.closed)

        // The router answers itself (an unknown host): it does not wait for the body either.
        let unknown = await RawHTTP.conversation(
            port: port,
            [("PUT /x HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", nil)])
        #expect(unknown.replies.first?.hasPrefix("HTTP/1.1 404") == true, "\(unknown.replies)")
        #expect(unknown.closed, "the connection closes after the answer instead of waiting for the body")

        // HTTP/1.0 knows no interim answers: the body comes with the head, and only the answer goes back.
        let old = await RawHTTP.conversation(
            port: port,
            [("POST /echo HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", nil)])
        #expect(old.replies.first?.hasPrefix("HTTP/1.0 200") == true, "\(old.replies)")
        #expect(old.replies.first?.hasSuffix("hello") == true)
        #expect(old.closed)
        await router.shutdown()
        await a.stop()
    }

    @Test func anOversizedHeaderIsAnswered431() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let big = String(repeating: "x", count: 40 * 1024)
        let answer = await RawHTTP.exchange(port: port, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(big)\r\n\r\n")
        #expect(answer.text.hasPrefix("HTTP/1.1 431"), "\(answer.text.prefix(200))")
        #expect(answer.closed)
        // Bytes that are not HTTP at all: 400, and the connection ends.
        let garbage = await RawHTTP.exchange(port: port, "\u{01}\u{02} NOT HTTP\r\n\r\n")
        #expect(garbage.text.hasPrefix("HTTP/1.1 400"), "\(garbage.text.prefix(200))")
        #expect(garbage.closed)
        #expect(a.stats.requests == 0)
        await router.shutdown()
    }

    /// Requests a replica could read another way than the router are answered 400 by the router
    /// and the connection closes: neither the request nor what follows it reaches a replica.
    @Test func aSmugglingAttemptNeverReachesAReplica() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        let attempts = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\u{0B}chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ]
        for attempt in attempts {
            let answer = await RawHTTP.exchange(port: port, attempt + smuggled)
            #expect(answer.text.hasPrefix("HTTP/1.1 400"), "\(attempt.debugDescription): \(answer.text.prefix(120))")
            #expect(answer.closed && answer.text.components(separatedBy: "HTTP/1.1").count == 2)
        }
        #expect(a.stats.requests == 0, "a replica saw \(a.stats.requests) requests")
        // A request right after a good one on the same connection still goes through.
        let fine = await RawHTTP.exchange(
            port: port,
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                + smuggled.replacingOccurrences(of: "\r\n\r\n", with: "\r\nConnection: close\r\n\r\n"))
        #expect(fine.text.components(separatedBy: "HTTP/1.1 200").count == 3, "\(fine.text)")
        await router.shutdown()
    }

    /// A client that sends its request head a byte at a time is closed once the head deadline passes,
    /// long before it would finish.
    @Test func aSlowClientIsClosedAtTheHeadTimeout() async throws {
        let a = try await HTTPTestBackend.start("a")
        var limits = Router.Limits()
        limits.headTimeout = .seconds(1)
        let router = Router(limits: limits)
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        // 600 bytes, one every 100 ms: a minute to send it all.
        let head = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-Pad: slow\r\n", count: 44) + "\r\n"
        let answer = await RawHTTP.exchange(port: port, head, timeout: 120, drip: 1, pause: 0.1)
        #expect(answer.closed, "the router kept a client that never finished its head")
        #expect(answer.text.isEmpty)
        #expect(a.stats.requests == 0)
        await router.shutdown()
    }

    @Test func bodiesAndAnswersStreamThrough() async throws {
        let a = try await HTTPTestBackend.start("a")
        let router = Router()
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [a.backend])]))
        let client = keepAliveClient(connections: 1)
        let big = String(repeating: "0123456789abcdef", count: 128 * 1024)  // 2 MiB
        let echoed = try await send(
            client, "http://127.0.0.1:\(port)/echo", method: .POST, body: ByteBuffer(string: big))
        #expect(echoed.status == 200)
        #expect(echoed.body == big)
        let streamed = try await send(client, "http://127.0.0.1:\(port)/stream?chunks=50")
        #expect(streamed.body.split(separator: "\n").count == 50)
        #expect(streamed.body.hasSuffix("chunk 49\n"))
        // A client that shuts down its sending side after the request (nc does) still gets the answer.
        let halfClosed = await Blocking.run { () -> String in
            guard let fd = Loopback.connected(port: port) else { return "refused" }
            defer { close(fd) }
            let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(fd, Int32(SHUT_WR))
            var limit = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += buffer[0..<count]
            }
            return String(decoding: received, as: UTF8.self)
        }
        #expect(halfClosed.hasPrefix("HTTP/1.0 200 OK") && halfClosed.hasSuffix("\r\n\r\na"), "\(halfClosed)")
        // HTTP/1.0 without keep-alive: the answer is framed by the connection's end.
        let old = await RawHTTP.exchange(port: port, "GET /stream?chunks=3 HTTP/1.0\r\nHost: a\r\n\r\n")
        #expect(old.closed)
        #expect(old.text.hasSuffix("chunk 0\nchunk 1\nchunk 2\n"), "\(old.text)")
        // A chunked request body is chunked again for the replica; the chunked answer keeps its framing.
        let chunkedUp = await RawHTTP.exchange(
            port: port,
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        #expect(
            chunkedUp.text.hasPrefix("HTTP/1.1 200 OK\r\n") && chunkedUp.text.hasSuffix("\r\n\r\nhello world"),
            "\(chunkedUp.text)")
        let chunkedDown = await RawHTTP.exchange(
            port: port, "GET /stream?chunks=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(chunkedDown.text.lowercased().contains("transfer-encoding: chunked\r\n"), "\(chunkedDown.text)")
        #expect(chunkedDown.text.hasSuffix("\r\n8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"), "\(chunkedDown.text)")
        try await client.shutdown()
        await router.shutdown()
    }

    @Test func aRequestWaitsForAReplicaThenGets503() async throws {
        var limits = Router.Limits()
        limits.waitForBackend = .seconds(1)
        let router = Router(limits: limits)
        let port = try await serving(router, httpPort([Route(app: "web", port: "http", backends: [])]))
        let client = keepAliveClient(connections: 1)
        let refused = try await send(client, "http://127.0.0.1:\(port)/")
        #expect(refused.status == 503)
        #expect(refused.body.contains("no ready replica of web"))
        // A replica that becomes ready while a request waits answers it.
        let a = try await HTTPTestBackend.start("a")
        var patient = Router.Limits()
        patient.waitForBackend = .minutes(10)
        let waiting = Router(limits: patient)
        let second = try await serving(waiting, httpPort([Route(app: "web", port: "http", backends: [])]))
        async let answer = send(client, "http://127.0.0.1:\(second)/")
        #expect(await eventually { await waiting.waitingConnections(second) == 1 })
        await waiting.update(ports: [second: httpPort([Route(app: "web", port: "http", backends: [a.backend])])])
        #expect(try await answer == (200, "a"))
        try await client.shutdown()
        await router.shutdown()
        await waiting.shutdown()
    }
}
