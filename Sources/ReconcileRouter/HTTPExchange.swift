import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One request on a client connection in http mode, from its head to its response's end: the
/// route it takes, the replica answering it, and what is kept to send it again elsewhere.
final class HTTPExchange {
    let key: RouteKey
    let route: Route
    /// The client's head.
    let head: ClientRequestHead
    /// The head as sent to replicas (hop-by-hop headers dropped, X-Forwarded-* and the request id set).
    let upstreamHead: ByteBuffer
    /// The body goes to replicas chunked.
    let chunkedBody: Bool
    /// The client speaks HTTP/1.0.
    let oldClient: Bool
    let host: String
    let requestID: String
    let started: NIODeadline
    let time: Date
    /// Idempotent methods may be sent again after a replica failed before answering.
    var replayable: Bool
    /// Every body part so far, while replayable (bounded).
    var replay: [ByteBuffer] = []
    var replayBytes = 0
    /// Body parts not yet sent to the current replica.
    var pending: [ByteBuffer] = []
    var pendingBytes = 0
    var requestEnded = false
    /// The chunked body's trailer lines (sent again with a retry).
    var trailers: [ByteBuffer] = []

    var backend: Backend?
    /// The replica the last attempt went to.
    var answeredBy: String?
    var upstream: HTTPUpstream?
    /// The current connection came from the pool (it may have been closed by the replica meanwhile).
    var reused = false
    var tried: Set<String> = []
    var attempts = 0
    var waiting = false
    var waitDeadline: NIODeadline?

    /// How the response's body goes to the client (set from the replica's head).
    var body = ResponseBody.asItCame
    var responseStarted = false
    var status = 0
    var responseBytes = 0
    /// The client connection closes after this response (HTTP/1.0 without a length, `Connection: close`).
    var closeAfter = false
    /// The client got a 100 Continue (it sends the body it announced).
    var continued = false
    var lastUpstreamActivity: NIODeadline

    init(
        key: RouteKey, route: Route, client: ClientRequestHead, upstream: (bytes: ByteBuffer, chunked: Bool),
        host: String, requestID: String, now: NIODeadline
    ) {
        self.key = key
        self.route = route
        self.head = client
        self.upstreamHead = upstream.bytes
        self.chunkedBody = upstream.chunked
        self.oldClient = client.minorVersion == 0
        self.host = host
        self.requestID = requestID
        self.started = now
        self.lastUpstreamActivity = now
        self.time = Date()
        self.replayable = Self.isIdempotent(client.method)
        self.closeAfter = !client.keepAlive
    }

    /// RFC 9110 §9.2.2: a request that may be sent twice.
    static func isIdempotent(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        default: false
        }
    }

    /// Keeps a body part for the current replica and, while the body is small enough, for a retry.
    func add(_ part: ByteBuffer, replayLimit: Int) {
        pending.append(part)
        pendingBytes += part.readableBytes
        guard replayable else { return }
        if replayBytes + part.readableBytes > replayLimit {
            replayable = false
            replay = []
            replayBytes = 0
        } else {
            replay.append(part)
            replayBytes += part.readableBytes
        }
    }
}

/// How a replica's response body goes on to the client.
enum ResponseBody: Equatable {
    /// The bytes as they came (a length, no body, a chunked body to an HTTP/1.1 client, or a body
    /// up to the connection's end to an HTTP/1.0 client).
    case asItCame
    /// A chunked body's data alone (an HTTP/1.0 client).
    case dechunked
    /// A body up to the replica's connection end, chunked for an HTTP/1.1 client.
    case chunkedHere
}

/// The request heads replicas see, and the response heads clients see.
enum HTTPHeads {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1), lower case.
    private static let hopByHopNames: [StaticString] = [
        "te", "trailer", "upgrade", "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization",
    ]

    /// The Host header without its port, lower case.
    static func host(_ head: ClientRequestHead) -> String? {
        guard let given = head.host, !given.isEmpty else { return nil }
        // Lower-casing builds a new string (2 % of the router's time per request when every Host was
        // lower-cased); the common Host is lower case ASCII already.
        var host =
            given.utf8.contains { $0 >= UInt8(ascii: "A") && ($0 <= UInt8(ascii: "Z") || $0 >= 0x80) }
            ? given.lowercased() : given
        if host.hasPrefix("[") {
            if let end = host.utf8.firstIndex(of: UInt8(ascii: "]")) { host = String(host[...end]) }
        } else if let colon = host.utf8.lastIndex(of: UInt8(ascii: ":")) {
            host = String(host[..<colon])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// Letters, digits, `.`, `-`, `_` and an IPv6 literal's `[`, `:`, `]`: nothing else belongs in a host.
    static func isHostName(_ host: String) -> Bool {
        host.utf8.count <= 255
            && host.utf8.allSatisfy { byte in
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x2D
                    || byte == 0x5F || byte == 0x5B || byte == 0x5D || byte == 0x3A
            }
    }

    /// A client's request id when it is short and printable, else a new one.
    static func requestID(_ head: ClientRequestHead) -> String {
        if let given = head.requestID, (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return given
        }
        // Unique, not secret: a random prefix per process and a counter (getrandom(2) twice per
        // request was a tenth of the router's system calls).
        return newRequestID(idCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    private static let idPrefix: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()
    private static let idCounter = Atomic<UInt64>(0)

    /// 32 lower-case hex digits: the process's prefix, then `counter`; written in place (the
    /// request id was a percent of the router's time per request as padded, joined strings).
    static func newRequestID(_ counter: UInt64) -> String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            for (offset, value) in [(0, idPrefix), (16, counter)] {
                for index in 0..<16 {
                    let nibble = Int((value >> UInt64(60 - 4 * index)) & 0xF)
                    buffer[offset + index] = digits.utf8Start[nibble]
                }
            }
            return 32
        }
    }

    /// The head a replica receives, as bytes: the request line with HTTP/1.1, the client's
    /// end-to-end header lines as they came (hop-by-hop ones and those its Connection header lists
    /// dropped), who asked and how (X-Forwarded-For appended to, X-Forwarded-Proto,
    /// X-Forwarded-Host and X-Request-Id set); and whether the body goes out chunked (the parser
    /// took the client's chunk framing off). No header is parsed into a string for it.
    static func upstream(
        _ head: ClientRequestHead, client: String, scheme: String, requestID: String, keepUpgrade: Bool = false,
        allocator: ByteBufferAllocator
    ) -> (bytes: ByteBuffer, chunked: Bool) {
        func dropped(_ line: ByteBuffer) -> Bool {
            if keepUpgrade, HTTPSyntax.named(line, "upgrade") { return false }
            return isConnectionOnly(line, listed: head.connectionTokens) || HTTPSyntax.named(line, "x-request-id")
                || HTTPSyntax.named(line, "x-forwarded-for") || HTTPSyntax.named(line, "x-forwarded-proto")
                || (head.host != nil && HTTPSyntax.named(line, "x-forwarded-host"))
        }
        var bytes = allocator.buffer(
            capacity: 256 + head.lines.reduce(head.target.readableBytes) { $0 + $1.readableBytes + 2 })
        if let canonical = head.canonical, !head.lines.contains(where: dropped) {
            // Nothing to drop from a head spelled as it would be written: its lines in one copy.
            bytes.writeImmutableBuffer(canonical)
        } else {
            bytes.writeString(head.method.rawValue)
            bytes.writeStaticString(" ")
            bytes.writeImmutableBuffer(head.target)
            bytes.writeStaticString(" HTTP/1.1\r\n")
            for line in head.lines where !dropped(line) { writeLine(line, to: &bytes) }
        }
        func line(_ name: StaticString, _ value: String) {
            bytes.writeStaticString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        if keepUpgrade { line("Connection", "Upgrade") }
        let forwarded = head.forwardedFor
        line("X-Forwarded-For", forwarded.isEmpty ? client : forwarded.joined(separator: ", ") + ", " + client)
        line("X-Forwarded-Proto", scheme)
        if let host = head.host { line("X-Forwarded-Host", host) }
        line("X-Request-Id", requestID)
        if head.minorVersion == 0, head.contentLength == nil, !head.chunked {
            // An HTTP/1.0 request without a length has no body.
            line("Content-Length", "0")
        }
        bytes.writeStaticString("\r\n")
        return (bytes, head.chunked)
    }

    /// A header line and its CRLF.
    static func writeLine(_ line: ByteBuffer, to bytes: inout ByteBuffer) {
        bytes.writeImmutableBuffer(line)
        bytes.writeStaticString("\r\n")
    }

    /// A header line's name, lower case.
    static func fieldName(_ line: ByteBuffer) -> String {
        let view = line.readableBytesView
        let colon = view.firstIndex(of: UInt8(ascii: ":")) ?? view.endIndex
        return String(decoding: view[..<colon], as: UTF8.self).lowercased()
    }

    /// The head a client receives, as bytes: the replica's status and end-to-end header lines as
    /// they came, the client's own version, and whether the connection stays open; and how the body
    /// follows. An HTTP/1.1 client gets a chunked body with its framing and a body that runs to the
    /// connection's end chunked here (its connection stays open); an HTTP/1.0 client gets either as
    /// the data alone, and its connection closes after it.
    static func downstream(
        _ head: UpstreamResponseHead, exchange: HTTPExchange, allocator: ByteBufferAllocator
    ) -> (ByteBuffer, ResponseBody) {
        let old = exchange.oldClient
        // A transfer coding other than chunked cannot be chunked again here: it goes on as it came,
        // up to the connection's end.
        let transferCoded = head.transferCoded
        var body = ResponseBody.asItCame
        switch head.framing {
        case .chunked where old: body = .dechunked
        case .untilClose where !old && !transferCoded: body = .chunkedHere
        default: break
        }
        if (old && head.framing == .chunked) || (head.framing == .untilClose && body == .asItCame) {
            exchange.closeAfter = true
        }
        // A body framed by its coding carries no length (a length beside it would frame it twice).
        let dropLength = head.framing == .chunked || head.framing == .untilClose
        func dropped(_ line: ByteBuffer) -> Bool {
            if isConnectionOnly(line, listed: head.connectionTokens) { return true }
            // Chunk framing goes on only as it came, to an HTTP/1.1 client.
            if HTTPSyntax.named(line, "transfer-encoding"),
                body != .asItCame || (head.framing != .chunked && head.framing != .untilClose)
            {
                return true
            }
            return dropLength && HTTPSyntax.named(line, "content-length")
        }
        // The common answer (HTTP/1.1 to an HTTP/1.1 client that stays, its lines all end to end)
        // goes on as the bytes that came.
        if let canonical = head.canonical, !old, body == .asItCame, !exchange.closeAfter,
            !head.lines.contains(where: dropped)
        {
            return (canonical, body)
        }
        var bytes = allocator.buffer(capacity: 256 + head.lines.reduce(0) { $0 + $1.readableBytes + 2 })
        bytes.writeStaticString(old ? "HTTP/1.0 " : "HTTP/1.1 ")
        bytes.writeString(String(head.status))
        bytes.writeStaticString(" ")
        bytes.writeImmutableBuffer(head.reason)
        bytes.writeStaticString("\r\n")
        for line in head.lines where !dropped(line) { writeLine(line, to: &bytes) }
        if body == .chunkedHere { bytes.writeStaticString("Transfer-Encoding: chunked\r\n") }
        if exchange.closeAfter {
            bytes.writeStaticString("Connection: close\r\n")
        } else if old {
            bytes.writeStaticString("Connection: keep-alive\r\n")
        }
        bytes.writeStaticString("\r\n")
        return (bytes, body)
    }

    /// An interim (1xx) head as a client receives it: the replica's status line and end-to-end
    /// header lines.
    static func informational(_ head: UpstreamResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = allocator.buffer(capacity: 64 + head.lines.reduce(0) { $0 + $1.readableBytes + 2 })
        bytes.writeStaticString("HTTP/1.1 ")
        bytes.writeString(String(head.status))
        bytes.writeStaticString(" ")
        bytes.writeImmutableBuffer(head.reason)
        bytes.writeStaticString("\r\n")
        for line in head.lines where !isConnectionOnly(line, listed: head.connectionTokens) {
            writeLine(line, to: &bytes)
        }
        bytes.writeStaticString("\r\n")
        return bytes
    }

    /// A body part as one chunk of chunked transfer coding (RFC 9112 §7.1): its size line, the part,
    /// its line end; nothing for an empty part (that would be the last chunk).
    static func chunk(_ part: ByteBuffer, allocator: ByteBufferAllocator, _ out: (ByteBuffer) -> Void) {
        guard part.readableBytes > 0 else { return }
        var size = allocator.buffer(capacity: 18)
        size.writeString(String(part.readableBytes, radix: 16))
        size.writeStaticString("\r\n")
        out(size)
        out(part)
        out(ByteBuffer(staticString: "\r\n"))
    }

    /// True when a header line is about this one connection, not the message: a hop-by-hop name, or
    /// one the message's Connection header lists (`tokens`, lower case).
    static func isConnectionOnly(_ line: ByteBuffer, listed tokens: [String]) -> Bool {
        isHopByHop(line) || (!tokens.isEmpty && tokens.contains(fieldName(line)))
    }

    /// True when a raw header line's name is a hop-by-hop one (compared without allocating: this
    /// runs for every header of every request and response).
    static func isHopByHop(_ line: ByteBuffer) -> Bool {
        guard let colon = line.readableBytesView.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let length = colon - line.readableBytesView.startIndex
        return hopByHopNames.contains { $0.utf8CodeUnitCount == length && HTTPSyntax.named(line, $0) }
    }
}
