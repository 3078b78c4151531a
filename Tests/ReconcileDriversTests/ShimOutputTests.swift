import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileShimCore
import ReconcileTesting
import Testing

/// How the shim turns a workload's output into output.log lines, and what the workload inherits.
@Suite struct ShimOutputTests {
    @Test func overLongLinesAreCutAtTheLimitAndNeverInsideACharacter() {
        var splitter = LineSplitter(limit: 8)
        var lines: [String] = []
        splitter.append(Array("short\n0123456789abcdefXYZ".utf8))
        splitter.take(all: false) { lines.append($0) }
        #expect(lines == ["short", "01234567", "89abcdef"])
        // "é" is two bytes: a cut falls before it, not between its bytes.
        splitter.append(Array("\nabcdefgé12\n".utf8))
        lines = []
        splitter.take(all: false) { lines.append($0) }
        #expect(lines == ["XYZ", "abcdefg", "é12"])
        splitter.append(Array("tail".utf8))
        lines = []
        splitter.take(all: true) { lines.append($0) }
        #expect(lines == ["tail"])
    }

    /// 64 MiB without a newline, fed in 64 KiB reads: 1,024 pieces, and the work grows linearly
    /// (the old buffer searched everything held on every read).
    @Test func aLineWithoutNewlinesCostsBoundedMemory() {
        var splitter = LineSplitter(limit: 64 * 1024)
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 64 * 1024)
        var pieces = 0
        var longest = 0
        for _ in 0..<1024 {
            splitter.append(chunk)
            splitter.take(all: false) {
                pieces += 1
                longest = max(longest, $0.utf8.count)
            }
        }
        splitter.take(all: true) { _ in pieces += 1 }
        #expect(pieces == 1024)
        #expect(longest == 64 * 1024)
    }

    /// A line's time is RFC 3339 in UTC with nanoseconds, every field zero-padded (written by hand
    /// since the shim runs without Foundation's formatters).
    @Test func aLogLineStartsWithItsPaddedTime() {
        #expect(
            ProcessRecords.logLine(time: Date(timeIntervalSince1970: 1_767_229_384.25), stream: "stdout", text: "a b")
                == "2026-01-01T01:03:04.250000000Z stdout a b\n")
        #expect(
            ProcessRecords.logLine(time: Date(timeIntervalSince1970: 0.125), stream: "stderr", text: "")
                == "1970-01-01T00:00:00.125000000Z stderr \n")
    }

    @Test func outputLogRotatesAndTheDriverReadsBothFiles() async throws {
        let state = try temporaryState("rotate")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let log = LogFile(path: state + "/output.log", limit: 100)
        for number in 0..<6 {
            log.write(
                ProcessRecords.logLine(
                    time: Date(timeIntervalSince1970: Double(number)), stream: "stdout",
                    text: "line \(number) " + String(repeating: "x", count: 20)))
        }
        log.close()
        #expect(FileManager.default.fileExists(atPath: state + "/output.log.1"))
        var info = stat()
        #expect(stat(state + "/output.log", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(state + "/output.log.1", &info) == 0 && info.st_size < 200)

        // Through the driver: a process whose output.log was rotated still shows its older lines.
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let info2 = try await driver.run(ContainerSpec(name: "rotated", command: ["/bin/sh", "-c", "echo new"]))
        var lines: [String] = []
        for _ in 0..<250 where !lines.contains("new") {
            lines = try await driver.logs(info2.id, since: nil).map(\.text)
            if !lines.contains("new") { try await Task.sleep(for: .milliseconds(20)) }
        }
        let folder = state + "/processes/" + info2.id
        let old = ProcessRecords.logLine(time: Date(timeIntervalSince1970: 1), stream: "stdout", text: "older")
        try old.write(toFile: folder + "/output.log.1", atomically: true, encoding: .utf8)
        #expect(try await driver.logs(info2.id, since: nil).map(\.text) == ["older", "new"])
        #expect(try await driver.logs(info2.id, since: Date(timeIntervalSince1970: 2)).map(\.text) == ["new"])
        try await driver.remove(info2.id)
    }

    /// The workload keeps the OOM score the shim started with (the shim lowers its own only after
    /// the spawn), gets its environment though none of it is on disk, and `exec` sees the same.
    @Test(.timeLimit(.minutes(1))) func theWorkloadKeepsItsOOMScoreAndItsEnvironmentStaysOffDisk() async throws {
        let state = try temporaryState("oom-env")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let secret = "secret-\(UUID().uuidString)"
        let info = try await driver.run(
            ContainerSpec(
                name: "scored", command: ["/bin/sh", "-c", "cat /proc/self/oom_score_adj; exec sleep 1000"],
                env: ["TOKEN": secret]))
        var lines: [String] = []
        for _ in 0..<250 where lines.isEmpty {
            lines = try await driver.logs(info.id, since: nil).map(\.text)
            if lines.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
        let own = try String(contentsOfFile: "/proc/self/oom_score_adj", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(lines.first == own, "the workload's OOM score is not the one it was started with")
        let folder = state + "/processes/" + info.id
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let data = FileManager.default.contents(atPath: folder + "/" + name) ?? Data()
            #expect(data.range(of: Data(secret.utf8)) == nil, "\(name) holds the secret")
        }
        #expect(
            try await driver.exec(
                info.id, command: ["/bin/sh", "-c", "[ \"$TOKEN\" = \(secret) ]"], timeout: .seconds(10)) == 0)
        #expect(
            try await driver.exec(info.id, command: ["/bin/sh", "-c", "[ -z \"$HOME\" ]"], timeout: .seconds(10)) == 0)
        try await driver.stop(info.id, grace: .seconds(5))
        try await driver.remove(info.id)
    }
}
