import NIOCore
import NIOHTTP1

/// A client's request head as the router needs it: where it goes and how its body is framed,
/// with the header lines kept as they came (copied to the replica without being parsed into
/// strings).
struct ClientRequestHead {
    var method: HTTPMethod
    /// The request target, raw (sent on byte for byte) and as text (for logs and redirects).
    var target: ByteBuffer
    var uri: String
    var minorVersion: Int
    /// The header lines, each `name: value` without its line end.
    var lines: [ByteBuffer] = []
    /// The Host header's value as sent.
    var host: String?
    var keepAlive = true
    var contentLength: Int?
    var chunked = false
    /// An Upgrade header the Connection header names: the client asks to switch protocols.
    var upgrade = false
    /// Lower-case header names the Connection header lists (hop-by-hop for this message).
    var connectionTokens: [String] = []
    var requestID: String?
    /// The X-Forwarded-For values already there.
    var forwardedFor: [String] = []
    /// `Expect: 100-continue` (HTTP/1.1 only; RFC 9110 §10.1.1 has an HTTP/1.0 one ignored): the
    /// client waits for a 100 Continue (or a final answer) before it sends the body.
    var expectsContinue = false
    /// The request line and header lines as they came (without the blank line), when spelled as
    /// the router would write them: HTTP/1.1, every line ended by CRLF.
    var canonical: ByteBuffer?
}

/// Splits what a client sends on a keep-alive connection into requests (RFC 9112): a head, then
/// its body framed by Content-Length or chunked transfer coding (handed on as the data alone),
/// then its end. It refuses what a proxy must not guess about, since the replica might read it
/// another way (request smuggling): two different lengths, a length beside a transfer coding,
/// a coding other than chunked, folded or unnamed header lines, control characters in a value,
/// two Host headers, an HTTP/1.1 request without one.
struct RequestParser {
    enum Event {
        case head(ClientRequestHead)
        case body(ByteBuffer)
        /// The request ended; the chunked body's trailer lines, if any.
        case end(trailers: [ByteBuffer])
    }

    /// A request the router answers itself, with `status`, and then closes the connection.
    struct Refusal: Error, CustomStringConvertible {
        var status: HTTPResponseStatus
        var reason: String
        var description: String { "\(status.code) \(reason)" }
    }

    struct Limits {
        var maxRequestLineBytes = 8 * 1024
        var maxFieldBytes = 16 * 1024
        var maxHeaderBytes = 32 * 1024
        var maxFields = 128
    }

    private enum State {
        case head
        case length(remaining: Int)
        case chunked(ChunkedBody, trailers: [ByteBuffer], bytes: Int)
        /// The body ended: `.end` is next.
        case ending
    }

    private var state = State.head
    /// How far the head being received has been scanned for its end, and whether its request
    /// line has ended.
    private var scanned = 0
    private var lineEnded = false
    let limits: Limits

    init(limits: Limits = Limits()) { self.limits = limits }

    /// Between requests: the next thing from the client is a head.
    var awaitingHead: Bool {
        if case .head = state { true } else { false }
    }

    /// The next event from `buffer` (consumed as far as it goes), or nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(Refusal) -> Event? {
        do {
            switch state {
            case .head:
                guard let head = try takeHead(&buffer) else { return nil }
                if head.chunked {
                    state = .chunked(ChunkedBody(maxLineBytes: limits.maxFieldBytes), trailers: [], bytes: 0)
                } else if let length = head.contentLength, length > 0 {
                    state = .length(remaining: length)
                } else {
                    state = .ending
                }
                return .head(head)
            case .ending:
                state = .head
                return .end(trailers: [])
            case .length(let remaining):
                guard let (part, left) = HTTPSyntax.take(&buffer, upTo: remaining) else { return nil }
                state = left == 0 ? .ending : .length(remaining: left)
                return .body(part)
            case .chunked(var body, var trailers, var bytes):
                while true {
                    guard let piece = try body.next(&buffer) else {
                        state = .chunked(body, trailers: trailers, bytes: bytes)
                        return nil
                    }
                    switch piece {
                    case .framing: continue
                    case .data(let data):
                        state = .chunked(body, trailers: trailers, bytes: bytes)
                        return .body(data)
                    case .trailer(let line, let raw):
                        _ = try HTTPSyntax.field(line)
                        bytes += raw.readableBytes
                        trailers.append(line)
                        guard bytes <= limits.maxHeaderBytes, trailers.count <= limits.maxFields else {
                            throw Refusal(
                                status: .requestHeaderFieldsTooLarge, reason: "the trailer fields are too large")
                        }
                    case .end:
                        state = .head
                        return .end(trailers: trailers)
                    }
                }
            }
        } catch let malformed as HTTPSyntax.Malformed {
            throw Refusal(status: .badRequest, reason: malformed.description)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(status: .badRequest, reason: "\(error)")
        }
    }

    /// The head, once all of it is in `buffer`; nothing is consumed before that.
    private mutating func takeHead(_ buffer: inout ByteBuffer) throws -> ClientRequestHead? {
        // Blank lines before a request are ignored (RFC 9112 §2.2), a few of them.
        var skipped = 0
        while skipped < 4, let first = buffer.readableBytesView.first, first == 0x0D || first == 0x0A {
            if first == 0x0D {
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) == 0x0A else {
                    throw Refusal(status: .badRequest, reason: "a bare CR before the request line")
                }
                buffer.moveReaderIndex(forwardBy: 2)
            } else {
                buffer.moveReaderIndex(forwardBy: 1)
            }
            skipped += 1
            scanned = 0
            lineEnded = false
        }
        guard let end = HTTPSyntax.headEnd(buffer, scanned: &scanned) else {
            // Bounded before the head ends. Where the request line ends is looked for only until it
            // is found, in at most the request line's bound (not the whole input at every read).
            if !lineEnded {
                let view = buffer.readableBytesView
                let line = view.prefix(limits.maxRequestLineBytes + 2)
                guard let newline = line.firstIndex(of: UInt8(ascii: "\n")) else {
                    if buffer.readableBytes > limits.maxRequestLineBytes + 1 { throw Self.uriTooLong }
                    return nil
                }
                if newline - view.startIndex > limits.maxRequestLineBytes + 1 { throw Self.uriTooLong }
                lineEnded = true
            }
            if buffer.readableBytes > limits.maxRequestLineBytes + limits.maxHeaderBytes + 4 {
                throw Self.headerTooLarge
            }
            return nil
        }
        lineEnded = false
        var headBytes = buffer.readSlice(length: end)!
        let whole = headBytes
        guard let (requestLine, rawLine) = try HTTPSyntax.takeLine(&headBytes, limit: .max),
            requestLine.readableBytes <= limits.maxRequestLineBytes
        else { throw Self.uriTooLong }
        var head = try Self.requestLine(requestLine)
        var canonical = head.minorVersion == 1 && rawLine.readableBytes == requestLine.readableBytes + 2
        guard headBytes.readableBytes <= limits.maxHeaderBytes + 2 else { throw Self.headerTooLarge }
        var lengths: Int?
        var codings: [String]?
        var hosts = 0
        var close = false
        var keepAliveAsked = false
        var upgradeHeader = false
        var upgradeToken = false
        // The head is whole and bounded already: a field over its own bound is 431, not a bad line.
        while let (line, raw) = try HTTPSyntax.takeLine(&headBytes, limit: .max) {
            if raw.readableBytes != line.readableBytes + 2 { canonical = false }
            guard line.readableBytes > 0 else { break }
            guard line.readableBytes <= limits.maxFieldBytes else { throw Self.headerTooLarge }
            if line.readableBytesView.first == 0x20 || line.readableBytesView.first == 0x09 {
                throw Refusal(status: .badRequest, reason: "a header line is folded (obsolete line folding)")
            }
            guard head.lines.count < limits.maxFields else { throw Self.headerTooLarge }
            let (nameLength, value) = try HTTPSyntax.field(line)
            switch nameLength {
            case 4 where HTTPSyntax.named(line, "host"):
                hosts += 1
                head.host = String(buffer: value)
            case 6 where HTTPSyntax.named(line, "expect"):
                if head.minorVersion == 1, HTTPSyntax.tokens(value).contains("100-continue") {
                    head.expectsContinue = true
                }
            case 7 where HTTPSyntax.named(line, "upgrade"):
                upgradeHeader = true
            case 10 where HTTPSyntax.named(line, "connection"):
                for name in HTTPSyntax.tokens(value) {
                    switch name {
                    case "close": close = true
                    case "keep-alive": keepAliveAsked = true
                    case "upgrade": upgradeToken = true
                    case "": break
                    default: head.connectionTokens.append(name)
                    }
                }
            case 12 where HTTPSyntax.named(line, "x-request-id"):
                if head.requestID == nil { head.requestID = String(buffer: value) }
            case 14 where HTTPSyntax.named(line, "content-length"):
                guard let length = HTTPSyntax.decimal(value) else {
                    throw Refusal(status: .badRequest, reason: "Content-Length is not a number")
                }
                if let lengths, lengths != length {
                    throw Refusal(status: .badRequest, reason: "two different Content-Length headers")
                }
                lengths = length
            case 15 where HTTPSyntax.named(line, "x-forwarded-for"):
                head.forwardedFor.append(String(buffer: value))
            case 17 where HTTPSyntax.named(line, "transfer-encoding"):
                codings = (codings ?? []) + HTTPSyntax.tokens(value)
            default: break
            }
            head.lines.append(line)
        }
        if hosts > 1 { throw Refusal(status: .badRequest, reason: "more than one Host header") }
        if hosts == 0, head.minorVersion == 1 {
            throw Refusal(status: .badRequest, reason: "an HTTP/1.1 request without a Host header")
        }
        if let codings {
            guard head.minorVersion == 1 else {
                throw Refusal(status: .badRequest, reason: "Transfer-Encoding in an HTTP/1.0 request")
            }
            guard lengths == nil else {
                throw Refusal(status: .badRequest, reason: "both Content-Length and Transfer-Encoding")
            }
            guard codings.last == "chunked", !codings.dropLast().contains("chunked") else {
                throw Refusal(
                    status: .badRequest, reason: "chunked is not the request's last coding, or not its only chunked")
            }
            guard codings.count == 1 else {
                throw Refusal(status: .notImplemented, reason: "transfer codings other than chunked are not supported")
            }
            head.chunked = true
        }
        head.contentLength = lengths
        head.keepAlive = !close && (head.minorVersion == 1 || keepAliveAsked)
        head.upgrade = upgradeHeader && upgradeToken
        if canonical { head.canonical = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 2) }
        return head
    }

    private static let uriTooLong = Refusal(status: .uriTooLong, reason: "the request line is too long")
    private static let headerTooLarge = Refusal(
        status: .requestHeaderFieldsTooLarge, reason: "request header fields too large")

    /// `method SP request-target SP HTTP/1.x`.
    private static func requestLine(_ line: ByteBuffer) throws -> ClientRequestHead {
        let bytes = line.readableBytesView
        guard let firstSpace = bytes.firstIndex(of: 0x20), firstSpace > bytes.startIndex,
            firstSpace - bytes.startIndex <= 32, bytes[..<firstSpace].allSatisfy(HTTPSyntax.isToken)
        else { throw Refusal(status: .badRequest, reason: "the request line does not start with a method") }
        let rest = bytes[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: 0x20), secondSpace > rest.startIndex,
            rest[..<secondSpace].allSatisfy({ $0 > 0x20 && $0 != 0x7F })
        else { throw Refusal(status: .badRequest, reason: "the request line has no target") }
        let version = rest[(secondSpace + 1)...]
        guard version.count == 8, version.starts(with: "HTTP/".utf8),
            version[version.startIndex + 6] == UInt8(ascii: ".")
        else { throw Refusal(status: .badRequest, reason: "the request line does not end with HTTP/1.x") }
        let (major, minor) = (version[version.startIndex + 5], version[version.startIndex + 7])
        guard major == UInt8(ascii: "1"), minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
            throw Refusal(status: .httpVersionNotSupported, reason: "only HTTP/1.0 and HTTP/1.1 are spoken here")
        }
        let method = HTTPMethod(rawValue: String(decoding: bytes[..<firstSpace], as: UTF8.self))
        if method == .CONNECT {
            throw Refusal(status: .methodNotAllowed, reason: "CONNECT: the router is not a forward proxy")
        }
        let target = line.getSlice(
            at: line.readerIndex + (rest.startIndex - bytes.startIndex), length: secondSpace - rest.startIndex)!
        return ClientRequestHead(
            method: method, target: target, uri: String(decoding: target.readableBytesView, as: UTF8.self),
            minorVersion: Int(minor - 0x30))
    }
}
