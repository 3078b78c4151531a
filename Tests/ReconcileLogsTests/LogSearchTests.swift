import Foundation
import ReconcileLogs
import ReconcileTesting
import Testing

@Suite struct LogSearchTests {
    func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Searching the whole text at once gives exactly the lines GNU `grep -P` (PCRE per line)
    /// prints for the same text, also for patterns that could match across lines or use anchors.
    /// The oracle is grep itself, not our per-line matcher; the data is seeded by the case number.
    @Test(
        arguments: [
            "error", "^ERROR", "done$", #"a\s+b"#, #"\d{3}"#, "x|^y", #"b\s*$"#, "(?i)warn", "^$", "a.*z", #"\n"#,
            #"^\s"#, #"\s$"#, "(?m)^a", #"\Aa"#, #"z\z"#, "[^a-z]", "",
        ].enumerated().map { ($0.offset, $0.element) })
    func wholeBufferSearchEqualsGrep(case index: Int, pattern text: String) throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = directory + "/segment"
        var generator = SplitMix(seed: 1_000 + UInt64(index))
        let words = ["a", "b", "ERROR", "error", "done", "warn", "WARN", "x", "y", "z", "123", " ", "  ", "", "\t"]
        var lines: [CollectedLine] = []
        for index in 0..<2_000 {
            let count = Int(generator.next() % 6)
            let text = (0..<count).map { _ in words[Int(generator.next() % UInt64(words.count))] }.joined(
                separator: generator.next() % 2 == 0 ? " " : "")
            lines.append(
                CollectedLine(time: Date(timeIntervalSince1970: Double(index)), stderr: index % 7 == 0, text: text))
        }
        try LogSegment.append(Array(lines[..<1000]), to: base)
        try LogSegment.append(Array(lines[1000...]), to: base)
        let reader = try #require(SegmentReader(base))
        #expect(reader.count == 2_000)
        // The oracle: grep -P -n over the same lines as a text file (line numbers from 1).
        let plain = directory + "/lines.txt"
        try lines.map { $0.text + "\n" }.joined().write(toFile: plain, atomically: true, encoding: .utf8)
        let grep = try Command.run(["grep", "-a", "-n", "-P", "-e", text, plain])
        #expect(grep.status == 0 || grep.status == 1, "grep failed: \(grep.stderr)")
        let expected = grep.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: ":", maxSplits: 1).first.flatMap { Int($0) }.map { $0 - 1 }
        }
        let pattern = try LogPattern(text, multiline: true)
        #expect(reader.matches(pattern) == expected, "pattern \(text)")
        #expect(reader.matches(pattern, from: 1500) == expected.filter { $0 >= 1500 }, "pattern \(text)")
        #expect((0..<2_000).allSatisfy { reader.line($0) == lines[$0] })
    }

    @Test func sinceFindsTheFirstLineAtOrAfterATime() throws {
        let base = try folder() + "/segment"
        try LogSegment.append(
            (0..<100).map {
                CollectedLine(time: Date(timeIntervalSince1970: 1000 + Double($0)), stderr: false, text: "l\($0)")
            },
            to: base)
        let reader = try #require(SegmentReader(base))
        #expect(reader.firstLine(atOrAfter: Date(timeIntervalSince1970: 1050)) == 50)
        #expect(reader.firstLine(atOrAfter: Date(timeIntervalSince1970: 1050.5)) == 51)
        #expect(reader.firstLine(atOrAfter: Date(timeIntervalSince1970: 0)) == 0)
        #expect(reader.firstLine(atOrAfter: Date(timeIntervalSince1970: 5000)) == 100)
        let found = LogStore.search(
            [("r", [base])], pattern: try LogPattern("l9"), since: Date(timeIntervalSince1970: 1095))
        #expect(found.map(\.line.text) == ["l95", "l96", "l97", "l98", "l99"])
    }

    /// A tail written after the last committed sizes (a collector that died before committing) is
    /// cut off; an index record whose text is missing is not read.
    @Test func truncateCutsAnUncommittedTail() throws {
        let base = try folder() + "/segment"
        let sizes = try LogSegment.append([CollectedLine(time: Date(), stderr: false, text: "kept")], to: base)
        try LogSegment.append([CollectedLine(time: Date(), stderr: true, text: "uncommitted")], to: base)
        #expect(SegmentReader(base)?.count == 2)
        LogSegment.truncate(base, text: sizes.text, index: sizes.index)
        let reader = try #require(SegmentReader(base))
        #expect(reader.count == 1)
        #expect(reader.text(0) == "kept")
    }

    /// A pattern with catastrophic backtracking on a long line ends (the match limit), as no match.
    @Test func aPathologicalPatternCannotHang() throws {
        let pattern = try LogPattern("(a+)+$")
        #expect(!pattern.matches(String(repeating: "a", count: 5_000) + "!"))
    }

    /// A line on which the match limit is hit counts as not matching; every later match in the
    /// segment is still found (the search used to stop at that line).
    @Test func aLineHittingTheMatchLimitHidesNoLaterMatch() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = directory + "/segment"
        let lines = ["needle first", String(repeating: "a", count: 30_000) + "!", "hay", "a needle after", "more hay"]
        try LogSegment.append(
            lines.enumerated().map {
                CollectedLine(time: Date(timeIntervalSince1970: Double($0.offset)), stderr: false, text: $0.element)
            }, to: base)
        let reader = try #require(SegmentReader(base))
        let pattern = try LogPattern("(a|a)*b|needle", multiline: true)
        #expect(reader.matches(pattern) == [0, 3])
        #expect(reader.matches(pattern, from: 1) == [3])
    }

    @Test func retentionRemovesOldSegmentsThenTheOldestBeyondTheSizeLimit() throws {
        let state = try folder()
        let store = LogStore(stateDirectory: state, segmentBytes: 100)
        let now = Date(timeIntervalSince1970: 1_000_000)
        var bases: [String] = []
        for (replica, age) in [("old", 10 * 86_400.0), ("mid", 3600), ("new", 60)] {
            for part in 0..<2 {
                let time = now.addingTimeInterval(-age + Double(part))
                let base = try store.writableSegment(app: "web", replica: replica, firstTime: time)
                try LogSegment.append(
                    [CollectedLine(time: time, stderr: false, text: String(repeating: "x", count: 150))], to: base)
                bases.append(base)
            }
        }
        #expect(Set(bases).count == 6)  // each append filled a segment: six segments
        // Age 7 days: both "old" segments go (167 bytes each); then, beyond 600 bytes, the oldest that is
        // not its replica's newest.
        let removed = store.retain(maxAge: 7 * 86_400, maxBytes: 600, now: now)
        let left = store.segments(app: "web").flatMap(\.bases)
        #expect(removed == 3)
        #expect(left == [bases[3], bases[4], bases[5]])
    }
}

/// A small deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
