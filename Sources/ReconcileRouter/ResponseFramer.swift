import NIOCore

/// A replica's response head as the router needs it: what frames the body, whether the connection
/// stays open, and the header lines as they came (copied to the client without being parsed into
/// strings).
struct UpstreamResponseHead {
    var minorVersion: Int
    var status: Int
    /// The status line's reason phrase, raw.
    var reason: ByteBuffer
    /// The header lines, each `name: value` without its line end.
    var lines: [ByteBuffer]
    var framing: ResponseFramer.Framing
    var keepAlive: Bool
    /// A Transfer-Encoding header was there (chunked or another coding).
    var transferCoded = false
    /// Lower-case header names the Connection header lists (hop-by-hop for this message).
    var connectionTokens: [String]
    /// The whole head as it came, when it is spelled as the router would write it: HTTP/1.1, a
    /// reason phrase after the code, every line ended by CRLF (then a head with nothing to drop
    /// goes on to an HTTP/1.1 client as these bytes, neither copied nor rebuilt).
    var canonical: ByteBuffer?
}

/// Splits what a replica sends on a keep-alive connection into responses (RFC 9112 §6): a head,
/// then its body framed by Content-Length, chunked transfer coding, or the connection's end. The
/// body is handed on as it came (`passChunks`: with its chunk framing and trailers, for an HTTP/1.1
/// client) or as the data alone. A 1xx head (100 Continue, 103 Early Hints; not 101) comes before
/// the response's own, as `informational`. Anything malformed throws: the connection can no longer
/// be trusted to frame the next response.
struct ResponseFramer {
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    enum Event {
        case head(UpstreamResponseHead)
        /// An interim 1xx head: the final head is still to come.
        case informational(UpstreamResponseHead)
        case body(ByteBuffer)
        case end
    }

    typealias Malformed = HTTPSyntax.Malformed

    private enum State {
        case head
        case length(remaining: Int)
        case chunked(ChunkedBody)
        case untilClose
        /// The body ended: `.end` is next.
        case ending
        case done
    }

    private var state = State.head
    /// How far the head being received has been scanned for its end.
    private var scanned = 0
    let maxHeadBytes: Int
    /// The request was HEAD: the response has no body whatever its headers say.
    var bodyless = false
    /// Hand on chunked bodies with their framing (set when the head is taken).
    var passChunks = true

    init(maxHeadBytes: Int = 80 * 1024) { self.maxHeadBytes = maxHeadBytes }

    /// Ready for the next response on the same connection.
    mutating func reset(bodyless: Bool) {
        state = .head
        scanned = 0
        self.bodyless = bodyless
        passChunks = true
    }

    var isDone: Bool {
        if case .done = state { true } else { false }
    }

    /// The next event from `buffer` (consumed as far as it goes), or nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            switch state {
            case .done:
                return nil
            case .ending:
                state = .done
                return .end
            case .head:
                guard let head = try takeHead(&buffer) else { return nil }
                if head.status >= 100, head.status < 200, head.status != 101 { return .informational(head) }
                if head.status == 101 { throw Malformed(description: "a replica switched protocols unasked") }
                switch head.framing {
                case .none: state = .ending
                case .length(let count): state = count == 0 ? .ending : .length(remaining: count)
                case .chunked: state = .chunked(ChunkedBody(maxLineBytes: maxHeadBytes))
                case .untilClose: state = .untilClose
                }
                return .head(head)
            case .length(let remaining):
                guard let (part, left) = HTTPSyntax.take(&buffer, upTo: remaining) else { return nil }
                state = left == 0 ? .ending : .length(remaining: left)
                return .body(part)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunked(var body):
                guard let piece = try body.next(&buffer) else { return nil }
                state = .chunked(body)
                switch piece {
                case .data(let data): return .body(data)
                case .framing(let raw), .trailer(_, let raw):
                    if passChunks { return .body(raw) }
                case .end(let raw):
                    state = .ending
                    if passChunks { return .body(raw) }
                }
            }
        }
    }

    /// Marks the end of a body read until the connection closed.
    mutating func closed() -> Bool {
        guard case .untilClose = state else { return false }
        state = .ending
        return true
    }

    /// The head, once all of it is in `buffer`; nothing is consumed before that.
    private mutating func takeHead(_ buffer: inout ByteBuffer) throws -> UpstreamResponseHead? {
        guard let end = HTTPSyntax.headEnd(buffer, scanned: &scanned) else {
            if buffer.readableBytes > maxHeadBytes { throw Malformed(description: "the response head is too large") }
            return nil
        }
        guard end <= maxHeadBytes else { throw Malformed(description: "the response head is too large") }
        var head = buffer.readSlice(length: end)!
        let whole = head
        guard let (statusLine, rawStatus) = try HTTPSyntax.takeLine(&head, limit: maxHeadBytes) else {
            throw Malformed(description: "no status line")
        }
        var parsed = try Self.statusLine(statusLine)
        var canonical =
            parsed.minorVersion == 1 && statusLine.readableBytes >= 13
            && rawStatus.readableBytes == statusLine.readableBytes + 2
        var contentLength: Int?
        var chunked = false
        var transferCoded = false
        var close = false
        var keepAliveAsked = false
        while let (line, raw) = try HTTPSyntax.takeLine(&head, limit: maxHeadBytes) {
            if raw.readableBytes != line.readableBytes + 2 { canonical = false }
            guard line.readableBytes > 0 else { break }
            if line.readableBytesView.first == 0x20 || line.readableBytesView.first == 0x09 {
                throw Malformed(description: "a header line is folded")
            }
            let (nameLength, value) = try HTTPSyntax.field(line)
            switch nameLength {
            case 14 where HTTPSyntax.named(line, "content-length"):
                guard let length = HTTPSyntax.decimal(value) else {
                    throw Malformed(description: "Content-Length is not a number")
                }
                if let contentLength, contentLength != length {
                    throw Malformed(description: "two different Content-Length headers")
                }
                contentLength = length
            case 17 where HTTPSyntax.named(line, "transfer-encoding"):
                transferCoded = true
                // chunked must be the last coding; what the last one is decides.
                chunked = HTTPSyntax.tokens(value).last == "chunked"
            case 10 where HTTPSyntax.named(line, "connection"):
                for name in HTTPSyntax.tokens(value) {
                    if name == "close" {
                        close = true
                    } else if name == "keep-alive" {
                        keepAliveAsked = true
                    } else if !name.isEmpty {
                        parsed.connectionTokens.append(name)
                    }
                }
            default: break
            }
            parsed.lines.append(line)
        }
        parsed.keepAlive = !close && (parsed.minorVersion == 1 || keepAliveAsked)
        parsed.transferCoded = transferCoded
        if canonical { parsed.canonical = whole }
        if bodyless || parsed.status == 204 || parsed.status == 304 || parsed.status < 200 {
            parsed.framing = .none
        } else if transferCoded {
            parsed.framing = chunked ? .chunked : .untilClose
        } else if let contentLength {
            parsed.framing = .length(contentLength)
        } else {
            parsed.framing = .untilClose
        }
        if parsed.framing == .untilClose { parsed.keepAlive = false }
        return parsed
    }

    private static func statusLine(_ line: ByteBuffer) throws -> UpstreamResponseHead {
        let bytes = Array(line.readableBytesView.prefix(13))
        let prefix: [UInt8] = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, Array(bytes[0..<7]) == prefix,
            bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"),
            bytes[8] == UInt8(ascii: " "), bytes[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            bytes.count == 12 || bytes[12] == UInt8(ascii: " ")
        else { throw Malformed(description: "the status line is not HTTP/1.x NNN") }
        let status = bytes[9...11].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        let reason =
            line.readableBytes > 13
            ? line.getSlice(at: line.readerIndex + 13, length: line.readableBytes - 13)! : ByteBuffer()
        // It goes on to the client as it came: a CR in it would end the line there.
        if reason.readableBytesView.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            throw Malformed(description: "the reason phrase has a control character")
        }
        return UpstreamResponseHead(
            minorVersion: Int(bytes[7] - 0x30), status: status, reason: reason, lines: [], framing: .none,
            keepAlive: true, connectionTokens: [])
    }
}
