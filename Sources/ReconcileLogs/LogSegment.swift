import Foundation

/// One collected log line.
public struct CollectedLine: Sendable, Hashable {
    public var time: Date
    public var stderr: Bool
    public var text: String

    public init(time: Date, stderr: Bool, text: String) {
        self.time = time
        self.stderr = stderr
        self.text = text
    }
}

/// A log segment: `<name>.log` holds the lines' text, one per line, exactly as written (so any
/// search runs over plain text, like grep over a file); `<name>.idx` holds one 16-byte record per
/// line: the time in microseconds since 1970 and the line's byte offset, its top bit set for stderr.
/// Both are only appended to; the sizes after each append are the position a reader resumes from.
public enum LogSegment {
    public static let recordSize = 16

    /// Appends lines; returns the new sizes of the text and index files.
    @discardableResult
    public static func append(_ lines: [CollectedLine], to base: String) throws -> (text: Int64, index: Int64) {
        let text = try handle(base + ".log")
        let index = try handle(base + ".idx")
        defer {
            try? text.close()
            try? index.close()
        }
        let fileEnd = Int64(try text.seekToEnd())
        var offset = fileEnd
        var textBytes: [UInt8] = []
        var indexBytes: [UInt8] = []
        textBytes.reserveCapacity(lines.reduce(0) { $0 + $1.text.utf8.count + 1 })
        indexBytes.reserveCapacity(lines.count * recordSize)
        for line in lines {
            let micros = Int64((line.time.timeIntervalSince1970 * 1_000_000).rounded())
            let marked = line.stderr ? offset | Int64.min : offset
            withUnsafeBytes(of: micros.littleEndian) { indexBytes += $0 }
            withUnsafeBytes(of: marked.littleEndian) { indexBytes += $0 }
            // A line never holds a newline of its own (it would split the line in the text file).
            for byte in line.text.utf8 { textBytes.append(byte == 10 ? 32 : byte) }
            textBytes.append(10)
            offset = fileEnd + Int64(textBytes.count)
        }
        try text.write(contentsOf: textBytes)
        _ = try index.seekToEnd()
        try index.write(contentsOf: indexBytes)
        return (Int64(text.offsetInFile), Int64(index.offsetInFile))
    }

    /// Cuts a segment back to sizes recorded earlier (writes after them were never committed).
    public static func truncate(_ base: String, text: Int64, index: Int64) {
        for (path, size) in [(base + ".log", text), (base + ".idx", index)] {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let current = attributes[.size] as? Int64, current > size
            {
                truncate(path, Int(size))
            }
        }
    }

    private static func truncate(_ path: String, _ size: Int) {
        _ = Glibc.truncate(path, off_t(size))
    }

    private static func handle(_ path: String) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        return handle
    }
}

/// A segment opened for reading (memory-mapped).
public final class SegmentReader: @unchecked Sendable {
    public let base: String
    let text: Data
    let index: Data
    public let count: Int

    public init?(_ base: String) {
        guard let text = MappedFile.contents(atPath: base + ".log"),
            let index = MappedFile.contents(atPath: base + ".idx")
        else { return nil }
        self.base = base
        self.text = text
        self.index = index
        // Only lines whose text is fully there (a reader may race a writer).
        var count = index.count / LogSegment.recordSize
        while count > 0, Self.rawOffset(index, count - 1) & Int64.max >= Int64(text.count) { count -= 1 }
        self.count = count
    }

    private static func rawOffset(_ index: Data, _ line: Int) -> Int64 {
        index.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: line * 16 + 8, as: Int64.self)) }
    }

    public func time(_ line: Int) -> Date {
        let micros = index.withUnsafeBytes {
            Int64(littleEndian: $0.loadUnaligned(fromByteOffset: line * 16, as: Int64.self))
        }
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    public func isStderr(_ line: Int) -> Bool { Self.rawOffset(index, line) < 0 }

    public func offset(_ line: Int) -> Int {
        line >= count ? end : Int(Self.rawOffset(index, line) & Int64.max)
    }

    /// Where the last complete line ends.
    var end: Int {
        guard count > 0 else { return 0 }
        let start = Int(Self.rawOffset(index, count - 1) & Int64.max)
        return text.withUnsafeBytes { bytes in
            var position = start
            while position < bytes.count, bytes[position] != 10 { position += 1 }
            return min(bytes.count, position + 1)
        }
    }

    public func text(_ line: Int) -> String {
        let start = offset(line)
        let stop = max(start, offset(line + 1) - 1)
        return String(decoding: text[start..<stop], as: UTF8.self)
    }

    public func line(_ number: Int) -> CollectedLine {
        CollectedLine(time: time(number), stderr: isStderr(number), text: text(number))
    }

    /// The first line at or after `time` (binary search; times are appended in order).
    public func firstLine(atOrAfter time: Date) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self.time(middle) < time { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The line holding byte `offset`.
    func line(containing offset: Int) -> Int {
        var low = 0
        var high = count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if self.offset(middle) <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The lines from `start` on that match, in order. The pattern (compiled `multiline`) runs over
    /// the text as one buffer, so the engine skips non-matching text at its own speed; a match
    /// that spans lines is checked again line by line, so results are exactly per line, as grep's.
    public func matches(_ pattern: LogPattern, from start: Int = 0, limit: Int = .max) -> [Int] {
        guard start < count else { return [] }
        let matcher = pattern.matcher()
        var found: [Int] = []
        let stop = end
        let lines = count
        text.withUnsafeBytes { raw in
            index.withUnsafeBytes { records in
                // Line offsets straight from the mapped index (no per-call copies).
                func offset(_ line: Int) -> Int {
                    line >= lines
                        ? stop
                        : Int(
                            Int64(littleEndian: records.loadUnaligned(fromByteOffset: line * 16 + 8, as: Int64.self))
                                & Int64.max)
                }
                let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<stop])
                func alone(_ line: Int) -> Bool {
                    let lineEnd = max(offset(line), offset(line + 1) - 1)
                    return matcher.firstMatch(in: UnsafeRawBufferPointer(rebasing: raw[offset(line)..<lineEnd])) != nil
                }
                var line = start
                var position = offset(start)
                // Line by line from `line` on: for patterns that differ over a buffer, and after a
                // limit was hit somewhere in the buffer (only the line that hits it counts as not
                // matching; every later match is still found).
                func perLine() {
                    while line < lines, found.count < limit {
                        if alone(line) { found.append(line) }
                        line += 1
                    }
                }
                guard pattern.matchesWholeBuffers else { return perLine() }
                while position < stop, found.count < limit {
                    let match: Range<Int>
                    switch matcher.search(bytes, from: position) {
                    case .none: return
                    case .limit: return perLine()
                    case .match(let range): match = range
                    }
                    // Matches come in order: walk forward to the line holding this one.
                    while offset(line + 1) <= match.lowerBound { line += 1 }
                    let lineEnd = offset(line + 1) - 1
                    if match.upperBound <= lineEnd || alone(line) { found.append(line) }
                    line += 1
                    position = offset(line)
                }
            }
        }
        return found
    }
}
