import NIOCore
import NIOHTTP1
import Testing

@testable import ReconcileRouter

/// The router splits a replica's bytes into responses itself: every framing, fed whole and one
/// byte at a time, and what it refuses.
@Suite struct ResponseFramerTests {
    /// Feeds `wire` in pieces of `step` bytes; the heads' statuses, the body bytes and the ends seen.
    func frame(
        _ wire: String, step: Int = .max, bodyless: Bool = false, passChunks: Bool = true
    ) throws -> (heads: [UpstreamResponseHead], body: String, ends: Int, rest: Int, interim: [Int]) {
        var framer = ResponseFramer()
        framer.reset(bodyless: bodyless)
        var heads: [UpstreamResponseHead] = []
        var interim: [Int] = []
        var body = ""
        var ends = 0
        var input = ByteBuffer()
        let bytes = Array(wire.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + min(step, bytes.count))
            input.writeBytes(bytes[offset..<end])
            offset = end
            while ends == 0, let event = try framer.next(&input) {
                switch event {
                case .head(let head):
                    heads.append(head)
                    framer.passChunks = passChunks
                case .informational(let head): interim.append(head.status)
                case .body(let part): body += String(buffer: part)
                case .end: ends += 1
                }
            }
        }
        return (heads, body, ends, input.readableBytes, interim)
    }

    @Test func aLengthFramesTheBodyAndTheHeadLinesComeAsTheyCame() throws {
        let wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhelloNEXT"
        for step in [Int.max, 1, 3] {
            let result = try frame(wire, step: step)
            #expect(result.heads.map(\.status) == [200])
            #expect(result.heads.first?.lines.map { String(buffer: $0) } == ["Content-Length: 5", "X-A:  b "])
            #expect(String(buffer: result.heads.first!.reason) == "OK")
            #expect(result.heads.first?.framing == .length(5))
            #expect(result.heads.first?.keepAlive == true)
            #expect(result.body == "hello" && result.ends == 1, "step \(step)")
            #expect(result.rest == 4, "bytes after the response stay unread")
        }
    }

    @Test func aChunkedBodyPassesWithItsFramingOrAsTheDataAlone() throws {
        let wire =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n"
        for step in [Int.max, 1, 2, 7] {
            let passed = try frame(wire, step: step)
            #expect(passed.heads.first?.framing == .chunked)
            #expect(passed.body == "5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", "step \(step)")
            #expect(passed.ends == 1 && passed.rest == 0)
            let data = try frame(wire, step: step, passChunks: false)
            #expect(data.body == "hello!" && data.ends == 1, "step \(step)")
        }
    }

    @Test func noBodyForHeadNoContentNotModifiedAndInformationalHeadsComeFirst() throws {
        let head = try frame("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", bodyless: true)
        #expect(head.heads.first?.framing == ResponseFramer.Framing.none && head.ends == 1 && head.body.isEmpty)
        for status in ["204 No Content", "304 Not Modified"] {
            let result = try frame("HTTP/1.1 \(status)\r\nContent-Length: 10\r\n\r\n")
            #expect(result.ends == 1 && result.body.isEmpty, "\(status)")
        }
        for step in [Int.max, 1, 5] {
            let continued = try frame(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                    + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", step: step)
            #expect(continued.interim == [100, 103], "step \(step)")
            #expect(continued.heads.map(\.status) == [201] && continued.body == "ok" && continued.ends == 1)
        }
    }

    @Test func withoutALengthTheBodyRunsToTheConnectionsEnd() throws {
        var framer = ResponseFramer()
        var input = ByteBuffer(string: "HTTP/1.0 200 OK\nServer: old\n\npart one")
        guard case .head(let head)? = try framer.next(&input) else {
            Issue.record("no head")
            return
        }
        #expect(head.framing == .untilClose && !head.keepAlive && head.minorVersion == 0)
        #expect(head.lines.map { String(buffer: $0) } == ["Server: old"], "bare LF line ends are read too")
        guard case .body(let part)? = try framer.next(&input) else {
            Issue.record("no body")
            return
        }
        #expect(String(buffer: part) == "part one")
        let more = try framer.next(&input)
        #expect(more == nil, "the body runs on until the connection ends")
        let ended = framer.closed()
        #expect(ended)
        guard case .end? = try framer.next(&input) else {
            Issue.record("no end after the close")
            return
        }
    }

    @Test func theConnectionHeaderDecidesKeepAliveAndListsHopByHopNames() throws {
        let closing = try frame("HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nContent-Length: 0\r\n\r\n")
        #expect(closing.heads.first?.keepAlive == false)
        #expect(closing.heads.first?.connectionTokens == ["x-secret"])
        let old = try frame("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
        #expect(old.heads.first?.keepAlive == true)
        let oldClosing = try frame("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(oldClosing.heads.first?.keepAlive == false)
    }

    @Test func whatCannotBeFramedSafelyIsRefused() throws {
        for wire in [
            "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\n: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            #expect(throws: ResponseFramer.Malformed.self, "\(wire.debugDescription)") { try frame(wire) }
        }
        let huge = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 100 * 1024)
        #expect(throws: ResponseFramer.Malformed.self) { try frame(huge) }
        // Transfer-Encoding wins over Content-Length; a coding other than chunked runs to the end.
        let both = try frame("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n")
        #expect(both.heads.first?.framing == .untilClose)
    }

    /// What a client receives: hop-by-hop lines dropped, its own version, and the body's framing
    /// changed only where that client needs it.
    @Test func theClientsHeadFitsItsVersion() throws {
        func exchange(_ version: HTTPVersion) throws -> HTTPExchange {
            var parser = RequestParser()
            var wire = ByteBuffer(string: "GET / HTTP/1.\(version.minor)\r\nHost: a\r\n\r\n")
            guard case .head(let head)? = try parser.next(&wire) else {
                throw ResponseFramer.Malformed(description: "the test's request has no head")
            }
            return HTTPExchange(
                key: RouteKey(publish: 1, app: "a", port: "http"), route: Route(app: "a", port: "http", backends: []),
                client: head, upstream: (ByteBuffer(), false), host: "a", requestID: "r", now: .now())
        }
        func head(_ wire: String) throws -> UpstreamResponseHead {
            var framer = ResponseFramer()
            var input = ByteBuffer(string: wire)
            guard case .head(let head)? = try framer.next(&input) else {
                throw ResponseFramer.Malformed(description: "")
            }
            return head
        }
        let chunked = try head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n"
        )
        let modern = try exchange(.http1_1)
        let (bytes, body) = HTTPHeads.downstream(chunked, exchange: modern, allocator: ByteBufferAllocator())
        #expect(String(buffer: bytes) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-End: 2\r\n\r\n")
        #expect(body == .asItCame && !modern.closeAfter)

        let old = try exchange(.http1_0)
        let (oldBytes, oldBody) = HTTPHeads.downstream(chunked, exchange: old, allocator: ByteBufferAllocator())
        #expect(String(buffer: oldBytes) == "HTTP/1.0 200 OK\r\nX-End: 2\r\nConnection: close\r\n\r\n")
        #expect(oldBody == .dechunked && old.closeAfter)

        let unframed = try head("HTTP/1.1 200 OK\r\nX-End: 2\r\n\r\n")
        let (wrapped, wrappedBody) = HTTPHeads.downstream(
            unframed, exchange: try exchange(.http1_1), allocator: ByteBufferAllocator())
        #expect(String(buffer: wrapped) == "HTTP/1.1 200 OK\r\nX-End: 2\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(wrappedBody == .chunkedHere)

        // Both framings from the replica: the length does not go on beside the chunks.
        let both = try head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n")
        let (bothBytes, _) = HTTPHeads.downstream(
            both, exchange: try exchange(.http1_1), allocator: ByteBufferAllocator())
        #expect(String(buffer: bothBytes) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        // A coding this router cannot chunk again goes on as it came, and the connection closes after it.
        let gzip = try head("HTTP/1.1 200\r\nTransfer-Encoding: gzip\r\n\r\n")
        let coded = try exchange(.http1_1)
        let (gzipBytes, gzipBody) = HTTPHeads.downstream(gzip, exchange: coded, allocator: ByteBufferAllocator())
        #expect(
            String(buffer: gzipBytes) == "HTTP/1.1 200 \r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
            "the status line keeps its space before an empty reason")
        #expect(gzipBody == .asItCame && coded.closeAfter)

        // Nothing to drop: the very bytes that came go on (the same storage, not a copy); a head
        // spelled otherwise (bare LF line ends, HTTP/1.0, no reason phrase) is written anew.
        let plain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n"
        var framer = ResponseFramer()
        var input = ByteBuffer(string: plain + "b")
        guard case .head(let passed)? = try framer.next(&input) else { throw ResponseFramer.Malformed(description: "") }
        let (same, sameBody) = HTTPHeads.downstream(passed, exchange: try exchange(.http1_1), allocator: .init())
        #expect(String(buffer: same) == plain && sameBody == .asItCame)
        #expect(
            same.withUnsafeReadableBytes { $0.baseAddress }
                == input.withUnsafeReadableBytes { $0.baseAddress! - plain.utf8.count })
        for (wire, written) in [
            ("HTTP/1.1 200 OK\nContent-Length: 1\n\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"),
            ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"),
            ("HTTP/1.1 204\r\nX-A: 1\r\n\r\n", "HTTP/1.1 204 \r\nX-A: 1\r\n\r\n"),
        ] {
            let (bytes, _) = HTTPHeads.downstream(try head(wire), exchange: try exchange(.http1_1), allocator: .init())
            #expect(String(buffer: bytes) == written, "\(wire.debugDescription)")
        }
        // The same canonical head to an HTTP/1.0 client, or to one that asked to close, is rewritten.
        let (toOld, _) = HTTPHeads.downstream(try head(plain), exchange: try exchange(.http1_0), allocator: .init())
        #expect(
            String(buffer: toOld)
                == "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\n")
    }

    @Test func aRequestIDIsTheProcessPrefixThenTheCounterInHex() {
        let first = HTTPHeads.newRequestID(0x1f)
        let second = HTTPHeads.newRequestID(0xfedc_ba98_7654_3210)
        #expect(first.count == 32 && first.hasSuffix("000000000000001f"), "\(first)")
        #expect(second.hasSuffix("fedcba9876543210") && second.prefix(16) == first.prefix(16), "\(second)")
        #expect(first.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
    }
}
