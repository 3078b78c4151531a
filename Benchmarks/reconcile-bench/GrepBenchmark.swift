import Foundation
import ReconcileLogs

/// Searching collected logs: `--files` MiB (default 1,024) of generated log lines in one segment,
/// searched through the log store (PCRE2 JIT over the whole text, results per line) and by
/// `grep -E -c` over the very same text file, for three patterns; medians of `--runs` (max 5).
func runGrepBenchmark(_ options: Options) throws {
    let mebibytes = options.files == 5000 ? 1024 : options.files
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("grep-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let base = folder + "/segment"
    let start = DispatchTime.now().uptimeNanoseconds
    let (written, number) = try writeLogSegment(base: base, mebibytes: mebibytes)
    print(String(format: "generated %d MiB, %d lines in %.1f s", written >> 20, number, seconds(since: start)))
    let patterns = logPatterns
    let runs = min(max(options.runs, 1), 5)
    for (name, pattern) in patterns {
        let (ours, theirs, counts) = try timeSearch(base: base, pattern: pattern, runs: runs)
        guard counts.0 == counts.1 else {
            throw BenchError("\(name): reconcile found \(counts.0) lines, grep -E \(counts.1)")
        }
        print(
            String(
                format: "  %-20@ %8d lines  reconcile %.3f s   grep -E %.3f s   ratio %.2fx (grep time / ours)",
                name as NSString, counts.0, median(ours), median(theirs), median(theirs) / median(ours)))
    }
}

let logPatterns = [
    ("rare literal", "card declined \\(code 4242\\)"),
    ("classes and counts", "processed 99[0-9] events in [0-9]{3}ms"),
    ("alternation", "WARN worker-1[0-6] |ERROR payment"),
]

/// Writes `mebibytes` MiB of generated log lines (one rare error line per million) as one segment
/// at `base`; the bytes and lines written.
func writeLogSegment(base: String, mebibytes: Int) throws -> (bytes: Int, lines: Int) {
    var written = 0
    var number = 0
    let levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "INFO", "INFO", "DEBUG"]
    let time = Date(timeIntervalSince1970: 1_800_000_000)
    while written < mebibytes << 20 {
        var lines: [CollectedLine] = []
        lines.reserveCapacity(50_000)
        for _ in 0..<50_000 {
            number += 1
            let text =
                number % 1_000_003 == 0
                ? "ERROR payment \(number) failed: card declined (code 4242)"
                : "\(levels[number % levels.count]) worker-\(number % 17) processed \(number % 997) events in \(100 + number % 900)ms batch=\(number)"
            lines.append(CollectedLine(time: time.addingTimeInterval(Double(number) / 1000), stderr: false, text: text))
            written += text.utf8.count + 1
        }
        try LogSegment.append(lines, to: base)
    }
    return (written, number)
}

/// Searches the segment through the log store and with `grep -E -c` over its text, `runs` times
/// each: their times (seconds) and the lines each found.
func timeSearch(base: String, pattern: String, runs: Int) throws -> (ours: [Double], grep: [Double], counts: (Int, Int))
{
    var ours: [Double] = []
    var theirs: [Double] = []
    var counts: (Int, Int) = (0, 0)
    for _ in 0..<runs {
        var began = DispatchTime.now().uptimeNanoseconds
        let compiled = try LogPattern(pattern, multiline: true)
        guard let reader = SegmentReader(base) else { throw BenchError("cannot read \(base)") }
        counts.0 = reader.matches(compiled).count
        ours.append(seconds(since: began))
        began = DispatchTime.now().uptimeNanoseconds
        let grep = Process()
        grep.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        grep.arguments = ["grep", "-E", "-c", pattern, base + ".log"]
        let pipe = Pipe()
        grep.standardOutput = pipe
        try grep.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        grep.waitUntilExit()
        theirs.append(seconds(since: began))
        counts.1 = Int(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
    return (ours, theirs, counts)
}
