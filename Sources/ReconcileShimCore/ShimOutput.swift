#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Cuts a stream of bytes into lines for output.log: at each newline, and a line longer than
/// `limit` bytes into pieces of at most `limit` bytes (cut before a UTF-8 continuation byte, so a
/// character is never split). Every byte is looked at once: linear time, at most `limit` bytes
/// (plus one read) held.
public struct LineSplitter: Sendable {
    public let limit: Int
    private var pending: [UInt8] = []
    /// How much of `pending` has been searched for a newline already.
    private var scanned = 0

    public init(limit: Int) {
        precondition(limit >= 4, "a piece must hold a whole UTF-8 character")
        self.limit = limit
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        pending.append(contentsOf: bytes)
    }

    /// Calls `line` with each complete line (and piece of an over-long one); with `all`, the rest too.
    public mutating func take(all: Bool, _ line: (String) -> Void) {
        var start = 0
        var index = scanned
        while index < pending.count {
            if pending[index] == 0x0A {
                line(String(decoding: pending[start..<index], as: UTF8.self))
                start = index + 1
            } else if index - start >= limit {
                var cut = index
                while cut > start + 1, pending[cut] & 0xC0 == 0x80 { cut -= 1 }
                line(String(decoding: pending[start..<cut], as: UTF8.self))
                start = cut
                continue
            }
            index += 1
        }
        if all, start < pending.count {
            line(String(decoding: pending[start...], as: UTF8.self))
            start = pending.count
        }
        pending.removeFirst(start)
        scanned = pending.count
    }
}

/// output.log, appended to by the shim (0600, close-on-exec): renamed to `output.log.1` (replacing
/// the one before) when it grows past `limit` bytes, so a chatty workload holds at most twice
/// `limit` on disk. Readers take `output.log.1` and then `output.log`.
public final class LogFile {
    public let path: String
    public let limit: Int64
    private var fd: Int32
    private var size: Int64

    public init(path: String, limit: Int64) {
        self.path = path
        self.limit = limit
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        var info = stat()
        size = fd >= 0 && fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }

    public func write(_ line: String) {
        if size >= limit { rotate() }
        let count = line.withCString { text -> Int in
            let length = strlen(text)
            return Glibc.write(fd, text, length)
        }
        if count > 0 { size += Int64(count) }
    }

    private func rotate() {
        Glibc.close(fd)
        rename(path, path + ".1")
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        size = 0
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
