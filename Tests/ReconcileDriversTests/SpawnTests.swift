import Foundation
import ReconcileSpawn
import Testing

/// The one spawn helper: what a child starts with.
@Suite struct SpawnTests {
    static let listing = #"""
        for n in $(seq 3 1023); do [ -e /proc/$$/fd/$n ] && echo "fd $n $(readlink /proc/$$/fd/$n)"; done
        grep -E '^(SigIgn|SigBlk)' /proc/$$/status
        env | sed 's/^/env /'
        echo "pgid $(cut -d' ' -f5 /proc/$$/stat) pid $$"
        """#

    /// This process holds a listening socket and a file without close-on-exec, ignores SIGPIPE and
    /// has variables of its own: the child has none of them.
    @Test func aChildGetsThreeDescriptorsItsDeclaredEnvironmentAndDefaultSignals() async throws {
        signal(SIGPIPE, SIG_IGN)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(listen(listener, 4) == 0)
        let file = open("/proc/self/status", O_RDONLY)
        defer { close(file) }
        #expect(fcntl(listener, F_GETFD) & FD_CLOEXEC == 0)
        #expect(getenv("HOME") != nil || getenv("PATH") != nil)

        let finished = try await Spawn.run(
            ["/bin/sh", "-c", Self.listing], environment: Spawn.environment(declaring: ["DECLARED": "yes"]),
            timeout: 30, outputLimit: 1 << 16)
        #expect(finished.status == 0, "\(finished.output)")
        let lines = finished.output.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("fd ") } == [], "inherited: \(lines)")
        let names = Set(lines.filter { $0.hasPrefix("env ") }.map { String($0.dropFirst(4).prefix { $0 != "=" }) })
        #expect(
            names.subtracting(["PWD", "OLDPWD", "SHLVL", "_"]).subtracting(["PATH", "LANG"]) == ["DECLARED"], "\(names)"
        )
        // No standard signal (1-31) ignored: SIGPIPE's disposition is not inherited. (glibc keeps
        // its own real-time signals 32 and 33 (bits 31, 32) out of reach of posix_spawn.)
        let ignored = try #require(
            lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(8), radix: 16) })
        #expect(ignored & 0x7FFF_FFFF == 0, "\(lines)")
        // Its own process group.
        let group = try #require(lines.first { $0.hasPrefix("pgid ") }?.split(separator: " "))
        #expect(group[1] == group[3])
    }

    /// A command still running at its timeout ends with no status (had the timeout not fired, the
    /// shell would have waited out its child and exited 0), and the child it started is killed with
    /// it. No wall-clock bound: under the parallel suite the poll may run late, and the child's
    /// sleep is far longer than any wait here, so "gone" can only mean killed.
    @Test func aTimeoutKillsTheWholeGroupAndAMissingProgramIsAnError() async throws {
        let finished = try await Spawn.run(
            ["/bin/sh", "-c", "sleep 600 & echo $!; wait"], environment: Spawn.environment(), timeout: 1)
        #expect(finished.status == nil)
        let grandchild = try #require(pid_t(finished.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Killed means no such process, or a zombie not yet reaped by whoever adopted it.
        func isGone() -> Bool {
            guard kill(grandchild, 0) == 0 else { return true }
            let stat = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        var gone = false
        for _ in 0..<1500 where !gone {
            gone = isGone()
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "the timed-out command's child \(grandchild) still runs")
        do {
            _ = try await Spawn.run(
                ["no-such-program-\(UUID().uuidString)"], environment: Spawn.environment(), timeout: 5)
            Issue.record("a missing program started")
        } catch {
            #expect(error.description.contains("cannot run no-such-program"))
        }
    }

    /// A check's stdin is /dev/null; one given input reads exactly it.
    @Test func inputReachesTheChildOnStdin() async throws {
        let finished = try await Spawn.run(
            ["/bin/sh", "-c", "wc -c"], environment: Spawn.environment(), input: Array("12345".utf8), timeout: 10)
        #expect(finished.output.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
    }
}

/// The product spawns only through `Spawn` (test support and benchmarks are not the product).
@Suite struct SpawnOwnershipTests {
    @Test func noOtherSourceStartsAProcess() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let allowed = ["ReconcileSpawn/", "CSpawn/", "ReconcileTesting/"]
        let patterns = [
            "posix_spawn", "Process()", "Foundation.Process", "fork(", "vfork(", "execv", "execl", "system(",
        ]
        var offenders: [String] = []
        var files = 0
        let enumerator = FileManager.default.enumerator(atPath: sources.path)
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".swift") || relative.hasSuffix(".c"), !allowed.contains(where: relative.hasPrefix)
            else { continue }
            files += 1
            let text = try String(contentsOf: sources.appendingPathComponent(relative), encoding: .utf8)
            for pattern in patterns where text.contains(pattern) { offenders.append("\(relative): \(pattern)") }
        }
        #expect(files > 50)
        #expect(offenders == [], "spawns outside Spawn: \(offenders)")
    }
}
