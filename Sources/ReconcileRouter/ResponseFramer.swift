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
}

/// Splits what a replica sends on a keep-alive connection into responses (RFC 9112 §6): a head,
/// then its body framed by Content-Length, chunked transfer coding, or the connection's end. The
/// body is handed on as it came (`passChunks`: with its chunk framing and trailers, for an HTTP/1.1
/// client) or as the data alone. 1xx heads (but 101) are skipped. Anything malformed throws: the
/// connection can no longer be trusted to frame the next response.
struct ResponseFramer {
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    enum Event {
        case head(UpstreamResponseHead)
        case body(ByteBuffer)
        case end
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    private enum State {
        case head
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        /// The body ended: `.end` is next.
        case ending
        case done
    }

    private var state = State.head
    let maxHeadBytes: Int
    /// The request was HEAD: the response has no body whatever its headers say.
    var bodyless = false
    /// Hand on chunked bodies with their framing (set when the head is taken).
    var passChunks = true

    init(maxHeadBytes: Int = 80 * 1024) { self.maxHeadBytes = maxHeadBytes }

    /// Ready for the next response on the same connection.
    mutating func reset(bodyless: Bool) {
        state = .head
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
                if head.status >= 100, head.status < 200, head.status != 101 { continue }
                if head.status == 101 { throw Malformed(description: "a replica switched protocols unasked") }
                switch head.framing {
                case .none: state = .ending
                case .length(let count): state = count == 0 ? .ending : .length(remaining: count)
                case .chunked: state = .chunkSize
                case .untilClose: state = .untilClose
                }
                return .head(head)
            case .length(let remaining):
                guard let (part, left) = Self.take(&buffer, upTo: remaining) else { return nil }
                state = left == 0 ? .ending : .length(remaining: left)
                return .body(part)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunkSize:
                guard let (line, raw) = try takeLine(&buffer, limit: 1024) else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
                if passChunks { return .body(raw) }
            case .chunkData(let remaining):
                guard let (part, left) = Self.take(&buffer, upTo: remaining) else { return nil }
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(part)
            case .chunkDataEnd:
                guard let (line, raw) = try takeLine(&buffer, limit: 2) else { return nil }
                guard line.readableBytes == 0 else { throw Malformed(description: "a chunk did not end its line") }
                state = .chunkSize
                if passChunks { return .body(raw) }
            case .trailers:
                guard let (line, raw) = try takeLine(&buffer, limit: maxHeadBytes) else { return nil }
                if line.readableBytes == 0 { state = .ending }
                if passChunks { return .body(raw) }
            }
        }
    }

    /// Marks the end of a body read until the connection closed.
    mutating func closed() -> Bool {
        guard case .untilClose = state else { return false }
        state = .ending
        return true
    }

    /// Up to `remaining` body bytes from what is there, and how many are still to come.
    private static func take(_ buffer: inout ByteBuffer, upTo remaining: Int) -> (ByteBuffer, Int)? {
        guard buffer.readableBytes > 0 else { return nil }
        let count = min(remaining, buffer.readableBytes)
        return (buffer.readSlice(length: count)!, remaining - count)
    }

    /// One line (without its CRLF or bare LF), and the same with its end.
    private func takeLine(_ buffer: inout ByteBuffer, limit: Int) throws -> (ByteBuffer, ByteBuffer)? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > limit + 2 { throw Malformed(description: "a line in the response is too long") }
            return nil
        }
        let taken = newline - view.startIndex + 1
        var length = taken - 1
        if length > 0, view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        guard length <= limit else { throw Malformed(description: "a line in the response is too long") }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        return (line, buffer.readSlice(length: taken)!)
    }

    private static func chunkSize(_ line: ByteBuffer) throws -> Int {
        var size = 0
        var digits = 0
        for byte in line.readableBytesView {
            let value: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard digits > 0 else { throw Malformed(description: "a chunk size is missing") }
                return size
            default: throw Malformed(description: "a chunk size is not hexadecimal")
            }
            digits += 1
            guard digits <= 15 else { throw Malformed(description: "a chunk is too large") }
            size = size * 16 + value
        }
        guard digits > 0 else { throw Malformed(description: "a chunk size is missing") }
        return size
    }

    /// The head, once all of it is in `buffer`; nothing is consumed before that.
    private func takeHead(_ buffer: inout ByteBuffer) throws -> UpstreamResponseHead? {
        let view = buffer.readableBytesView
        // The blank line that ends the head: CRLF CRLF, or bare LFs.
        var end: Int?
        var index = view.startIndex
        while let newline = view[index...].firstIndex(of: UInt8(ascii: "\n")) {
            let next = newline + 1
            if next < view.endIndex, view[next] == UInt8(ascii: "\n") {
                end = next + 1
                break
            }
            if next + 1 < view.endIndex, view[next] == UInt8(ascii: "\r"), view[next + 1] == UInt8(ascii: "\n") {
                end = next + 2
                break
            }
            index = next
            if next >= view.endIndex { break }
        }
        guard let end else {
            if buffer.readableBytes > maxHeadBytes { throw Malformed(description: "the response head is too large") }
            return nil
        }
        guard end - view.startIndex <= maxHeadBytes else {
            throw Malformed(description: "the response head is too large")
        }
        var head = buffer.readSlice(length: end - view.startIndex)!
        guard let (statusLine, _) = try takeLine(&head, limit: maxHeadBytes) else {
            throw Malformed(description: "no status line")
        }
        var parsed = try Self.statusLine(statusLine)
        var contentLength: Int?
        var chunked = false
        var transferCoded = false
        var close = false
        var keepAliveAsked = false
        while let (line, _) = try takeLine(&head, limit: maxHeadBytes), line.readableBytes > 0 {
            let bytes = line.readableBytesView
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > bytes.startIndex else {
                throw Malformed(description: "a header line has no name")
            }
            let nameLength = colon - bytes.startIndex
            for byte in bytes[..<colon] where !Self.isToken(byte) {
                throw Malformed(description: "a header name has a character a token cannot have")
            }
            let value = Self.trimmed(
                line.getSlice(at: line.readerIndex + nameLength + 1, length: bytes.endIndex - colon - 1)!)
            switch nameLength {
            case 14 where Self.named(line, "content-length"):
                guard let length = Self.decimal(value) else {
                    throw Malformed(description: "Content-Length is not a number")
                }
                if let contentLength, contentLength != length {
                    throw Malformed(description: "two different Content-Length headers")
                }
                contentLength = length
            case 17 where Self.named(line, "transfer-encoding"):
                transferCoded = true
                // chunked must be the last coding; what the last one is decides.
                let codings = String(buffer: value).lowercased().split(separator: ",")
                chunked = codings.last.map { $0.trimmingCharacters(in: .whitespaces) == "chunked" } ?? false
            case 10 where Self.named(line, "connection"):
                for token in String(buffer: value).lowercased().split(separator: ",") {
                    let name = token.trimmingCharacters(in: .whitespaces)
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
        return UpstreamResponseHead(
            minorVersion: Int(bytes[7] - 0x30), status: status, reason: reason, lines: [], framing: .none,
            keepAlive: true, connectionTokens: [])
    }

    static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// True when the line's header name (before its colon) is `lower`, ignoring case.
    static func named(_ line: ByteBuffer, _ lower: StaticString) -> Bool {
        let bytes = line.readableBytesView
        guard bytes.count > lower.utf8CodeUnitCount else { return false }
        return lower.withUTF8Buffer { expected in
            for (offset, byte) in expected.enumerated() {
                let given = bytes[bytes.startIndex + offset]
                if (given >= 0x41 && given <= 0x5A ? given | 0x20 : given) != byte { return false }
            }
            return bytes[bytes.startIndex + expected.count] == UInt8(ascii: ":")
        }
    }

    static func trimmed(_ value: ByteBuffer) -> ByteBuffer {
        let bytes = value.readableBytesView
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return ByteBuffer() }
        let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return value.getSlice(at: value.readerIndex + (first - bytes.startIndex), length: last - first + 1)!
    }

    static func decimal(_ value: ByteBuffer) -> Int? {
        guard value.readableBytes > 0, value.readableBytes <= 18 else { return nil }
        var result = 0
        for byte in value.readableBytesView {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            result = result * 10 + Int(byte - 0x30)
        }
        return result
    }
}
