import NIOCore

/// The pieces of HTTP/1.1's message syntax (RFC 9112) the router reads on both sides: lines,
/// header names and values, numbers, and chunked transfer coding. Everything works on the bytes
/// as they came; nothing is turned into strings.
enum HTTPSyntax {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The offset just past the blank line that ends a head (CRLF CRLF, or bare LFs) in what
    /// `buffer` holds, or nil when it has not all arrived. `scanned` is how far earlier calls
    /// looked (it is kept between them, and is 0 once a head is found): a head arriving a byte at a
    /// time is scanned once, not once per byte (a slow client would otherwise cost the router time
    /// quadratic in its head's size).
    static func headEnd(_ buffer: ByteBuffer, scanned: inout Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            var index = min(scanned, bytes.count)
            while let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
                let next = newline + 1
                if next < bytes.count, bytes[next] == UInt8(ascii: "\n") {
                    scanned = 0
                    return next + 1
                }
                if next + 1 < bytes.count, bytes[next] == UInt8(ascii: "\r"), bytes[next + 1] == UInt8(ascii: "\n") {
                    scanned = 0
                    return next + 2
                }
                if next >= bytes.count || (next + 1 >= bytes.count && bytes[next] == UInt8(ascii: "\r")) {
                    // What follows this line's end has not come yet: look again from here.
                    scanned = newline
                    return nil
                }
                index = next
            }
            scanned = bytes.count
            return nil
        }
    }

    /// One line taken from `buffer`: without its CRLF (or bare LF), and the same with it. Nil when
    /// the line has not ended yet; throws when it is longer than `limit` either way.
    static func takeLine(_ buffer: inout ByteBuffer, limit: Int) throws(Malformed) -> (ByteBuffer, ByteBuffer)? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > limit + 2 { throw Malformed(description: "a line is too long") }
            return nil
        }
        let taken = newline - view.startIndex + 1
        var length = taken - 1
        if length > 0, view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        guard length <= limit else { throw Malformed(description: "a line is too long") }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        return (line, buffer.readSlice(length: taken)!)
    }

    /// A header line's name and trimmed value: the name a token right before the colon, the value
    /// visible characters, spaces, tabs and obs-text (no control character: a CR or NUL there is
    /// how requests are smuggled).
    static func field(_ line: ByteBuffer) throws(Malformed) -> (nameLength: Int, value: ByteBuffer) {
        // Over the raw bytes: this runs for every header line of every request and response.
        let found = line.withUnsafeReadableBytes { bytes -> (colon: Int, error: String?) in
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
                return (0, "a header line has no name")
            }
            for index in 0..<colon where !isToken(bytes[index]) {
                return (0, "a header name has a character a token cannot have")
            }
            for index in (colon + 1)..<bytes.count {
                let byte = bytes[index]
                if (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                    return (0, "a header value has a control character")
                }
            }
            return (colon, nil)
        }
        if let error = found.error { throw Malformed(description: error) }
        let value = trimmed(
            line.getSlice(at: line.readerIndex + found.colon + 1, length: line.readableBytes - found.colon - 1)!)
        return (found.colon, value)
    }

    static func isToken(_ byte: UInt8) -> Bool { tokenBytes[Int(byte)] }

    /// RFC 9110 §5.6.2's tchar, by byte value.
    private static let tokenBytes: [Bool] = (0...255).map { value in
        let byte = UInt8(value)
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// True when the line's header name (before its colon) is `lower`, ignoring case.
    static func named(_ line: ByteBuffer, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        guard line.readableBytes > count else { return false }
        return line.withUnsafeReadableBytes { bytes in
            guard bytes[count] == UInt8(ascii: ":") else { return false }
            let expected = lower.utf8Start
            for offset in 0..<count {
                let given = bytes[offset]
                if (given >= 0x41 && given <= 0x5A ? given | 0x20 : given) != expected[offset] { return false }
            }
            return true
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

    /// The lower-case, trimmed items of a comma-separated header value.
    static func tokens(_ value: ByteBuffer) -> [String] {
        String(buffer: value).lowercased().split(separator: ",").map {
            $0.trimmingCharacters(in: [" ", "\t"])
        }
    }

    /// Up to `remaining` body bytes from what is there, and how many are still to come.
    static func take(_ buffer: inout ByteBuffer, upTo remaining: Int) -> (ByteBuffer, Int)? {
        guard buffer.readableBytes > 0 else { return nil }
        let count = min(remaining, buffer.readableBytes)
        return (buffer.readSlice(length: count)!, remaining - count)
    }

    static func chunkSize(_ line: ByteBuffer) throws(Malformed) -> Int {
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
}

/// A body in chunked transfer coding (RFC 9112 §7.1), read a piece at a time: the data, the
/// framing around it (size lines and line ends, handed on by whoever passes the coding through),
/// the trailer lines, and the blank line that ends it.
struct ChunkedBody {
    enum Piece {
        case data(ByteBuffer)
        case framing(ByteBuffer)
        /// A trailer field line, and the same with its line end.
        case trailer(ByteBuffer, raw: ByteBuffer)
        /// The blank line that ends the body, raw.
        case end(ByteBuffer)
    }

    private enum State {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers
    }

    private var state = State.size
    let maxLineBytes: Int

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    mutating func next(_ buffer: inout ByteBuffer) throws(HTTPSyntax.Malformed) -> Piece? {
        switch state {
        case .size:
            guard let (line, raw) = try HTTPSyntax.takeLine(&buffer, limit: 1024) else { return nil }
            let size = try HTTPSyntax.chunkSize(line)
            state = size == 0 ? .trailers : .data(remaining: size)
            return .framing(raw)
        case .data(let remaining):
            guard let (part, left) = HTTPSyntax.take(&buffer, upTo: remaining) else { return nil }
            state = left == 0 ? .dataEnd : .data(remaining: left)
            return .data(part)
        case .dataEnd:
            guard let (line, raw) = try HTTPSyntax.takeLine(&buffer, limit: 2) else { return nil }
            guard line.readableBytes == 0 else { throw .init(description: "a chunk did not end its line") }
            state = .size
            return .framing(raw)
        case .trailers:
            guard let (line, raw) = try HTTPSyntax.takeLine(&buffer, limit: maxLineBytes) else { return nil }
            return line.readableBytes == 0 ? .end(raw) : .trailer(line, raw: raw)
        }
    }
}
