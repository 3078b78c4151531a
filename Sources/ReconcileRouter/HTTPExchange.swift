import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One request on a client connection in http mode, from its head to its response's end: the
/// route it takes, the replica answering it, and what is kept to send it again elsewhere.
final class HTTPExchange {
    let key: RouteKey
    let route: Route
    /// The head as sent to replicas (hop-by-hop headers dropped, X-Forwarded-* and the request id set).
    let head: HTTPRequestHead
    let clientVersion: HTTPVersion
    let clientKeepAlive: Bool
    let host: String
    let requestID: String
    let started: ContinuousClock.Instant
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

    var responseStarted = false
    var status = 0
    var responseBytes = 0
    /// The client connection closes after this response (HTTP/1.0 without a length, `Connection: close`).
    var closeAfter = false
    var lastUpstreamActivity = NIODeadline.now()

    init(key: RouteKey, route: Route, head: HTTPRequestHead, client: HTTPRequestHead, host: String, requestID: String) {
        self.key = key
        self.route = route
        self.head = head
        self.clientVersion = client.version
        self.clientKeepAlive = client.isKeepAlive
        self.host = host
        self.requestID = requestID
        self.started = .now
        self.time = Date()
        self.replayable = Self.isIdempotent(client.method)
        self.closeAfter = !client.isKeepAlive
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

/// The request heads replicas see, and the response heads clients see.
enum HTTPHeads {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1), compared without
    /// allocating (this runs for every header of every request and response).
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: equalsIgnoringCase(name, "te")
        case 7: equalsIgnoringCase(name, "trailer") || equalsIgnoringCase(name, "upgrade")
        case 10: equalsIgnoringCase(name, "connection") || equalsIgnoringCase(name, "keep-alive")
        case 16: equalsIgnoringCase(name, "proxy-connection")
        case 18: equalsIgnoringCase(name, "proxy-authenticate")
        case 19: equalsIgnoringCase(name, "proxy-authorization")
        default: false
        }
    }

    /// ASCII case-insensitive equality with a lower-case literal.
    static func equalsIgnoringCase(_ name: String, _ lower: StaticString) -> Bool {
        guard name.utf8.count == lower.utf8CodeUnitCount else { return false }
        return lower.withUTF8Buffer { expected in
            var index = 0
            for byte in name.utf8 {
                let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                if folded != expected[index] { return false }
                index += 1
            }
            return true
        }
    }

    /// Drops hop-by-hop headers and those the Connection header lists; Transfer-Encoding stays (it
    /// tells the encoder to chunk the body it is given).
    static func endToEnd(_ headers: HTTPHeaders) -> HTTPHeaders {
        var listed: [String] = []
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let name = token.trimmingCharacters(in: .whitespaces).lowercased()
                if name != "close", name != "keep-alive", name != "upgrade", !name.isEmpty { listed.append(name) }
            }
        }
        var result = HTTPHeaders()
        for (name, value) in headers where !isHopByHop(name) {
            if !listed.isEmpty, listed.contains(name.lowercased()) { continue }
            result.add(name: name, value: value)
        }
        return result
    }

    /// The Host header without its port, lower case.
    static func host(_ head: HTTPRequestHead) -> String? {
        guard var host = head.headers.first(name: "host")?.lowercased(), !host.isEmpty else { return nil }
        if host.hasPrefix("[") {
            if let end = host.firstIndex(of: "]") { host = String(host[...end]) }
        } else if let colon = host.lastIndex(of: ":") {
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

    /// True for a request asking to switch protocols (WebSocket).
    static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers.contains(name: "upgrade")
            && head.headers["connection"].contains { value in
                value.split(separator: ",").contains {
                    $0.trimmingCharacters(in: .whitespaces).lowercased() == "upgrade"
                }
            }
    }

    /// A client's request id when it is short and printable, else a new one.
    static func requestID(_ head: HTTPRequestHead) -> String {
        if let given = head.headers.first(name: "x-request-id"), (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return given
        }
        // Unique, not secret: a random prefix per process and a counter (getrandom(2) twice per
        // request was a tenth of the router's system calls).
        return idPrefix + hex(idCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    private static let idPrefix: String = {
        var generator = SystemRandomNumberGenerator()
        return hex(generator.next())
    }()
    private static let idCounter = Atomic<UInt64>(0)

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    /// The head a replica receives: end-to-end headers, HTTP/1.1 keep-alive, who asked and how.
    static func upstream(
        _ head: HTTPRequestHead, client: String, scheme: String, requestID: String, keepUpgrade: Bool = false
    ) -> HTTPRequestHead {
        var headers = endToEnd(head.headers)
        if keepUpgrade {
            for value in head.headers["upgrade"] { headers.add(name: "Upgrade", value: value) }
            headers.add(name: "Connection", value: "Upgrade")
        }
        let forwarded = head.headers["x-forwarded-for"].joined(separator: ", ")
        headers.replaceOrAdd(name: "X-Forwarded-For", value: forwarded.isEmpty ? client : "\(forwarded), \(client)")
        headers.replaceOrAdd(name: "X-Forwarded-Proto", value: scheme)
        if let host = head.headers.first(name: "host") { headers.replaceOrAdd(name: "X-Forwarded-Host", value: host) }
        headers.replaceOrAdd(name: "X-Request-Id", value: requestID)
        if head.version.major == 1, head.version.minor == 0, !headers.contains(name: "content-length"),
            !headers.contains(name: "transfer-encoding")
        {
            // An HTTP/1.0 request without a length has no body.
            headers.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
    }

    /// The head a client receives: end-to-end headers, its own version, and whether the connection stays open.
    static func downstream(_ head: HTTPResponseHead, exchange: HTTPExchange) -> HTTPResponseHead {
        var headers = endToEnd(head.headers)
        let framed =
            headers.contains(name: "content-length") || head.status == .noContent || head.status == .notModified
            || head.status.code < 200 || exchange.head.method == .HEAD
        if exchange.clientVersion.minor == 0 && !framed { exchange.closeAfter = true }
        if exchange.clientVersion.minor == 0 { headers.remove(name: "transfer-encoding") }
        var result = HTTPResponseHead(version: exchange.clientVersion, status: head.status, headers: headers)
        if exchange.closeAfter {
            result.headers.replaceOrAdd(name: "Connection", value: "close")
        } else if exchange.clientVersion.minor == 0 {
            result.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        return result
    }

    /// The request head as bytes, for a tunnel that carries the rest of the connection raw.
    static func serialize(_ head: HTTPRequestHead) -> ByteBuffer {
        var text = "\(head.method.rawValue) \(head.uri) HTTP/1.1\r\n"
        for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return ByteBuffer(string: text)
    }
}
