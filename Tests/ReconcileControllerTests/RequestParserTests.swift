import NIOCore
import NIOHTTP1
import ReconcileTesting
import Testing

@testable import ReconcileRouter

/// The router splits a client's bytes into requests itself: every framing, fed whole and one byte
/// at a time, pipelined requests, and what it refuses (and with which status) because a replica
/// could read it another way.
@Suite struct RequestParserTests {
    struct Parsed {
        var heads: [ClientRequestHead] = []
        /// Each request's body, in order.
        var bodies: [String] = []
        var trailers: [[String]] = []
        var rest = 0
    }

    /// Feeds `wire` in pieces of `step` bytes and takes every event.
    func parse(_ wire: String, step: Int = .max, limits: RequestParser.Limits = .init()) throws -> Parsed {
        var parser = RequestParser(limits: limits)
        var parsed = Parsed()
        var input = ByteBuffer()
        let bytes = Array(wire.utf8)
        var offset = 0
        var body = ""
        while offset < bytes.count {
            let end = min(bytes.count, offset + min(step, bytes.count))
            input.writeBytes(bytes[offset..<end])
            offset = end
            while let event = try parser.next(&input) {
                switch event {
                case .head(let head): parsed.heads.append(head)
                case .body(let part): body += String(buffer: part)
                case .end(let trailers):
                    parsed.bodies.append(body)
                    parsed.trailers.append(trailers.map { String(buffer: $0) })
                    body = ""
                }
            }
        }
        parsed.rest = input.readableBytes
        return parsed
    }

    /// The status a request is refused with, or nil when it parses.
    func refusal(_ wire: String, limits: RequestParser.Limits = .init()) -> UInt? {
        do {
            _ = try parse(wire, limits: limits)
            return nil
        } catch let refusal as RequestParser.Refusal {
            return refusal.status.code
        } catch {
            return 0
        }
    }

    @Test func pipelinedRequestsOfEveryFramingComeApartInOrder() throws {
        let wire =
            "\r\nGET /a?x=1 HTTP/1.1\r\nHost: a.test:8080\r\nX-A:  b \r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            + "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n"
            + "GET /d HTTP/1.1\nHost: a\n\nGET /e"
        for step in [Int.max, 1, 3, 7] {
            let parsed = try parse(wire, step: step)
            #expect(parsed.heads.map(\.uri) == ["/a?x=1", "/b", "/c", "/d"], "step \(step)")
            #expect(parsed.heads.map(\.method) == [.GET, .POST, .PUT, .GET])
            #expect(parsed.bodies == ["", "hello", "hello!", ""], "step \(step)")
            #expect(parsed.trailers == [[], [], ["X-T: 1"], []])
            #expect(parsed.rest == 6, "the unfinished head stays unread")
            let first = try #require(parsed.heads.first)
            #expect(first.lines.map { String(buffer: $0) } == ["Host: a.test:8080", "X-A:  b "])
            #expect(first.host == "a.test:8080" && first.keepAlive && !first.chunked)
            #expect(parsed.heads[1].contentLength == 5 && parsed.heads[2].chunked)
        }
    }

    @Test func theHeadSaysHowTheConnectionGoesOn() throws {
        func head(_ wire: String) throws -> ClientRequestHead {
            try #require(try parse(wire + "\r\n").heads.first)
        }
        #expect(try head("GET / HTTP/1.0\r\n").keepAlive == false)
        #expect(try head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n").keepAlive)
        #expect(try head("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n").keepAlive == false)
        let upgrade = try head(
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade, X-Hop\r\n")
        #expect(upgrade.upgrade && upgrade.connectionTokens == ["x-hop"])
        #expect(try head("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n").upgrade == false)
        let forwarded = try head(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: r1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"
        )
        #expect(forwarded.requestID == "r1" && forwarded.forwardedFor == ["10.0.0.1", "10.0.0.2"])
    }

    /// Each refusal with the status a client gets; none of these reaches a replica.
    @Test func whatAReplicaCouldReadAnotherWayIsRefused() {
        let cases: [(String, UInt)] = [
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\u{0}\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET\r\n\r\n", 400),
            ("\u{01}\u{02} NOT HTTP\r\n\r\n", 400),
            ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
        ]
        for (wire, status) in cases {
            #expect(refusal(wire) == (status == 0 ? nil : status), "\(wire.debugDescription)")
        }
    }

    @Test func sizeBoundsAreAnswered414And431() {
        let long = "GET /" + String(repeating: "x", count: 9 * 1024) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(refusal(long) == 414)
        // Refused before the head ends: the client cannot make the router hold an unbounded head.
        #expect(refusal("GET /" + String(repeating: "x", count: 9 * 1024)) == 414)
        let field = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "x", count: 17 * 1024) + "\r\n\r\n"
        #expect(refusal(field) == 431)
        let many = "GET / HTTP/1.1\r\nHost: a\r\n" + (0..<128).map { "X-\($0): 1\r\n" }.joined() + "\r\n"
        #expect(refusal(many) == 431)
        let endless = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-A: 1234567890\r\n", count: 3000)
        #expect(refusal(endless) == 431)
        var small = RequestParser.Limits()
        small.maxHeaderBytes = 64
        #expect(
            refusal(
                "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + String(repeating: "y", count: 80) + "\r\n\r\n", limits: small)
                == 431)
        #expect(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-A: y\r\n\r\n", limits: small) == nil)
    }

    /// Mutated requests (bytes changed, inserted and dropped, from a fixed seed) parse to the same
    /// requests or the same refusal whether they arrive whole or in random pieces: how the client's
    /// bytes are split into reads never changes what the router reads.
    @Test func howTheBytesArriveNeverChangesWhatIsRead() throws {
        let seeds = [
            "GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n",
            "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n",
            "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        ]
        let alphabet = Array("\r\n :;,0123456789abcdefAZ\t".utf8) + [0, 0x7F, 0x80]
        var random = SeededGenerator(seed: 0x5EED)
        func outcome(_ bytes: [UInt8], pieces: Bool) -> String {
            var parser = RequestParser()
            var input = ByteBuffer()
            var seen: [String] = []
            var body = ""
            var offset = 0
            do {
                while offset < bytes.count {
                    let step = pieces ? Int.random(in: 1...9, using: &random) : bytes.count
                    let end = min(bytes.count, offset + step)
                    input.writeBytes(bytes[offset..<end])
                    offset = end
                    while let event = try parser.next(&input) {
                        switch event {
                        case .head(let head): seen.append("head \(head.method) \(head.uri) \(head.lines.count)")
                        case .body(let part): body += String(buffer: part)
                        case .end(let trailers):
                            seen.append("body \(body) end \(trailers.count)")
                            body = ""
                        }
                    }
                }
                return seen.joined(separator: "|")
            } catch {
                return "refused \(error.status.code)"
            }
        }
        var refused = 0
        for round in 0..<3000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = alphabet.randomElement(using: &random)!
                case 1: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                default: bytes.remove(at: at)
                }
            }
            let whole = outcome(bytes, pieces: false)
            if whole.hasPrefix("refused") { refused += 1 }
            #expect(outcome(bytes, pieces: true) == whole, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        // The mutations reach both sides: some requests still parse, many are refused.
        #expect(refused > 300 && refused < 2700, "\(refused) of 3000 refused")
    }

    /// A head that arrives in pieces is scanned for its end once: each look starts where the last
    /// stopped (a slow client would otherwise cost time quadratic in its head's size), and an end
    /// split between two pieces is still found.
    @Test func aHeadArrivingInPiecesIsScannedOnce() {
        for ending in ["\r\n\r\n", "\n\n", "\r\n\n", "\n\r\n"] {
            let head = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "v", count: 300) + ending
            let bytes = Array(head.utf8)
            var buffer = ByteBuffer()
            var scanned = 0
            var found: Int?
            for (index, byte) in bytes.enumerated() {
                buffer.writeInteger(byte)
                let before = scanned
                found = HTTPSyntax.headEnd(buffer, scanned: &scanned)
                if found != nil {
                    #expect(index == bytes.count - 1, "the end was found early in \(ending.debugDescription)")
                    break
                }
                #expect(scanned >= before, "the scan went back")
                // Only a line end whose next bytes have not come yet is looked at again.
                #expect(scanned >= buffer.readableBytes - 2, "\(scanned) of \(buffer.readableBytes) scanned")
            }
            #expect(found == bytes.count && scanned == 0, "\(ending.debugDescription)")
        }
    }

    /// What a replica receives: the target byte for byte, end-to-end lines as they came, and who asked.
    @Test func theReplicasHeadKeepsEndToEndLinesAndAddsWhoAsked() throws {
        let wire =
            "GET /caf%C3%A9?q=\u{00E9} HTTP/1.1\r\nHost: api.test:81\r\nConnection: keep-alive, X-Secret\r\n"
            + "X-Secret: hop\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: ftp\r\n"
            + "X-Forwarded-Host: evil\r\nX-Request-Id: given\r\nAccept: */*\r\n\r\n"
        let head = try #require(try parse(wire).heads.first)
        let (bytes, chunked) = HTTPHeads.upstream(
            head, client: "127.0.0.9", scheme: "https", requestID: "rid", allocator: ByteBufferAllocator())
        #expect(!chunked)
        #expect(
            String(buffer: bytes)
                == "GET /caf%C3%A9?q=\u{00E9} HTTP/1.1\r\nHost: api.test:81\r\nAccept: */*\r\n"
                + "X-Forwarded-For: 10.0.0.1, 127.0.0.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: api.test:81\r\n"
                + "X-Request-Id: rid\r\n\r\n")
        let old = try #require(try parse("POST /x HTTP/1.0\r\n\r\n").heads.first)
        let (oldBytes, _) = HTTPHeads.upstream(
            old, client: "c", scheme: "http", requestID: "r", allocator: ByteBufferAllocator())
        #expect(String(buffer: oldBytes).hasSuffix("X-Request-Id: r\r\nContent-Length: 0\r\n\r\n"))
        // A head with nothing to drop is copied in one piece; one spelled otherwise is written anew:
        // the replica sees the same bytes either way.
        let added = "X-Forwarded-For: c\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-Id: r\r\n\r\n"
        for wire in [
            "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", "GET /a HTTP/1.1\nHost: h\nAccept: */*\n\n",
            "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\n\r\n", "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\n",
        ] {
            let parsed = try #require(try parse(wire).heads.first)
            #expect((parsed.canonical != nil) == (wire.utf8.count == 41), "\(wire.debugDescription)")
            let (bytes, _) = HTTPHeads.upstream(
                parsed, client: "c", scheme: "http", requestID: "r", allocator: ByteBufferAllocator())
            #expect(
                String(buffer: bytes) == "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n" + added,
                "\(wire.debugDescription)")
        }
    }

    /// The host a request is routed by: its Host header without the port or a final dot, lower
    /// case, an IPv6 literal with its brackets; spellings that are lower case already and those that
    /// have to be lower-cased first.
    @Test func theRoutedHostIsTheHostHeaderWithoutPortOrFinalDot() throws {
        let cases: [(String, String)] = [
            ("api.test", "api.test"), ("api.test:8080", "api.test"), ("api.test.", "api.test"),
            ("api.test.:81", "api.test"), ("127.0.0.1:42903", "127.0.0.1"), ("API.Test:81", "api.test"),
            ("Api.Test.", "api.test"), ("[::1]:8080", "[::1]"), ("[::1]", "[::1]"), ("[FE80::1]:80", "[fe80::1]"),
            ("caf\u{00C9}.test:1", "caf\u{00E9}.test"), ("h:", "h"),
        ]
        for (given, routed) in cases {
            let head = try #require(try parse("GET / HTTP/1.1\r\nHost: \(given)\r\n\r\n").heads.first)
            #expect(HTTPHeads.host(head) == routed, "Host: \(given)")
        }
        let none = try #require(try parse("GET / HTTP/1.0\r\n\r\n").heads.first)
        #expect(HTTPHeads.host(none) == nil)
    }
}
