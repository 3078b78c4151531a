import Foundation
import ReconcileLogs
import ReconcileTesting
import Testing

/// `reconcile logs APP --follow --state DIR` against a segment a writer appends to faster than the
/// collector would: the lines there already, then every line appended, each printed once, in
/// order, none skipped — also a batch appended between the listing and the follow (the follow goes
/// on from the very positions the listing read up to).
@Suite struct LogFollowTests {
    @Test(.timeLimit(.minutes(3))) func followPrintsEveryAppendedLineOnceInOrder() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("follow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let logs = LogStore(stateDirectory: state)
        var number = 0
        func batch(_ count: Int) throws {
            let now = Date()
            let lines = (0..<count).map { offset in
                CollectedLine(
                    time: now.addingTimeInterval(Double(offset) / 1000), stderr: false, text: "tick \(number + offset)")
            }
            number += count
            let base = try logs.writableSegment(
                app: "ticker", replica: "ticker-0-0123456789ab", firstTime: lines[0].time)
            try LogSegment.append(lines, to: base)
        }
        try batch(10)
        let output = root.path + "/followed.txt"
        let follower = try ChildProcess(
            [CLITests.binary.path, "logs", "ticker", "--follow", "--state", state], output: output)
        try await Task.sleep(for: .seconds(1))
        // Batches of 10 every 20 ms: many land between two of the follower's reads, some during one.
        for _ in 0..<250 {
            try batch(10)
            try await Task.sleep(for: .milliseconds(20))
        }
        let last = number - 1
        func ticks() -> [Int] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                $0.hasPrefix("tick ") ? Int($0.dropFirst(5)) : nil
            }
        }
        _ = await AlertsEndToEndTests.eventually(30) { ticks().last == last }
        follower.signal(SIGTERM)
        _ = await follower.wait(timeout: 10)
        let seen = ticks()
        #expect(seen.count == Set(seen).count, "printed twice: \(seen.count - Set(seen).count) lines")
        #expect(seen == Array(0...last), "skipped: \(Set(0...last).subtracting(seen).sorted().prefix(20))")
    }
}
