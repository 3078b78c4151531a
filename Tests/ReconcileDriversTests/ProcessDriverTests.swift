import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileShimCore
import ReconcileTesting
import Testing

/// The `reconcile-shim` built next to the test bundle.
let shimPath: String = {
    let candidates = [
        Bundle.main.bundleURL.appendingPathComponent("reconcile-shim").path,
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "reconcile-shim"
        )
        .path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}()

func temporaryState(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reconcile-\(name)-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct ProcessDriverTests {
    @Test(.timeLimit(.minutes(3))) func theProcessDriverConforms() async throws {
        let state = try temporaryState("process")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        await runConformance(driver, .hostProcesses)
    }

    /// A shim killed outright records no exit: its process is reported exited from the next listing
    /// on, although earlier listings already watched it running (the pidfd, not a stale answer), and
    /// its process tree, now untracked, is killed (not left running beside a replacement).
    /// A start cut short takes its name first (as an engine's create does): a second start of the
    /// name is refused while the first holds it, and a folder left before its record was written is
    /// removed with its name once a minute old, so the name can be used again. (Taken after the
    /// record, two cut-short starts left two containers of one name, one of which nothing removed.)
    @Test(.timeLimit(.minutes(1))) func aStartCutShortHoldsItsNameAndItsPartialFolderGoes() async throws {
        let state = try temporaryState("cut-short")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        _ = try await driver.list()
        let root = state + "/processes"
        // Cut short after taking the name and creating the folder, before meta.json.
        let id = String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: root + "/" + id, withIntermediateDirectories: true)
        #expect(symlink(id, root + "/.names/job") == 0)
        // Fresh: kept (a start in progress writes its record within milliseconds).
        _ = try await driver.list()
        #expect(FileManager.default.fileExists(atPath: root + "/" + id))
        var old = [timespec(tv_sec: time(nil) - 120, tv_nsec: 0), timespec(tv_sec: time(nil) - 120, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, root + "/" + id, &old, 0) == 0)
        #expect(try await driver.list().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root + "/" + id))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/.names/job")) == nil)
        // The name is free again; while its container holds it, a second start is refused.
        let first = try await driver.run(ContainerSpec(name: "job", command: ["/bin/sleep", "30"]))
        await #expect(throws: DriverError.self) {
            _ = try await driver.run(ContainerSpec(name: "job", command: ["/bin/true"]))
        }
        #expect(try await driver.list().map(\.id) == [first.id])
        try await driver.remove(first.id)
    }

    @Test(.timeLimit(.minutes(1))) func aKilledShimIsReportedExitedAndItsProcessTreeEnded() async throws {
        let state = try temporaryState("shim-killed")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let info = try await driver.run(
            ContainerSpec(
                name: "long",
                command: [
                    "/bin/sh", "-c", "sleep 1000 & echo $! > grandchild.tmp && mv grandchild.tmp grandchild; wait",
                ]
            ))
        for _ in 0..<3 { #expect(try await driver.list().first?.status == .running) }
        let folder = state + "/processes/" + info.id
        let grandchild = try #require(try await Self.pid(writtenTo: folder + "/grandchild"))
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/state.json"))
        let record = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let shim = try #require(record["shimPID"] as? Int)
        let child = pid_t(try #require(record["pid"] as? Int))
        #expect(kill(pid_t(shim), SIGKILL) == 0)
        var status = try await driver.inspect(info.id)?.status
        for _ in 0..<100 where status == .running {
            try await Task.sleep(for: .milliseconds(20))
            status = try await driver.list().first?.status
        }
        #expect(status == .exited)
        #expect(try await driver.inspect(info.id)?.exitCode == 137)
        for pid in [child, grandchild] {
            var gone = false
            for _ in 0..<200 where !gone {
                gone = kill(pid, 0) != 0 || ProcessWorkloads.isZombie(pid)
                if !gone { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(gone, "process \(pid) of the dead shim still runs")
        }
        // A second driver on the same folder (a restarted controller) agrees.
        let restarted = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        #expect(try await restarted.inspect(info.id)?.status == .exited)
        try await driver.remove(info.id)
        #expect(try await driver.list().isEmpty)
    }

    /// A shim announces its process's exit: the wait returns on the notice (the mark moved), not
    /// on its timeout; a notice already received before the wait returns it at once.
    @Test(.timeLimit(.minutes(1))) func exitsArePushedToTheDriver() async throws {
        let state = try temporaryState("notices")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let notices = try #require(driver.exitNotices())
        let mark = notices.mark
        let info = try await driver.run(ContainerSpec(name: "short", command: ["/bin/sh", "-c", "sleep 0.3"]))
        await notices.wait(after: mark, timeout: 30)
        #expect(notices.mark != mark)
        #expect(try await driver.inspect(info.id)?.status == .exited)
        let later = notices.mark
        let other = try await driver.run(ContainerSpec(name: "instant", command: ["/bin/true"]))
        while try await driver.inspect(other.id)?.status != .exited { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(notices.mark != later)  // already there: the next wait would not block
        // A name is taken until its process is removed, then free again.
        await #expect(throws: DriverError.self) {
            _ = try await driver.run(ContainerSpec(name: "short", command: ["/bin/true"]))
        }
        try await driver.remove(info.id)
        let again = try await driver.run(ContainerSpec(name: "short", command: ["/bin/true"]))
        try await driver.remove(again.id)
        try await driver.remove(other.id)
    }

    @Test(.timeLimit(.minutes(2))) func aRestartedDriverReadoptsRunningProcessesAndKeepsTheirLogs() async throws {
        let state = try temporaryState("adopt")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let started = try await first.run(
            ContainerSpec(
                name: "collector", command: ["/bin/sh", "-c", "echo before; sleep 3600"],
                labels: ["io.reconcile.app": "collector"]))
        #expect(started.status == .running)

        // A new driver on the same state directory stands for a restarted controller.
        let second = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        let adopted = try await second.list()
        #expect(adopted.map(\.id) == [started.id])
        #expect(adopted.first?.status == .running)
        #expect(adopted.first?.labels["io.reconcile.app"] == "collector")
        // Running it again is refused: it is adopted, not started twice.
        await #expect(throws: DriverError.self) {
            _ = try await second.run(ContainerSpec(name: "collector", command: ["/bin/true"]))
        }
        var lines: [String] = []
        for _ in 0..<50 where !lines.contains("before") {
            lines = try await second.logs(started.id, since: nil).map(\.text)
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(lines == ["before"])
        try await second.stop(started.id, grace: .seconds(2))
        let stopped = try await second.inspect(started.id)
        #expect(stopped?.status == .exited)
        #expect(stopped?.exitCode == 143)  // SIGTERM
        try await second.remove(started.id)
        #expect(try await first.list().isEmpty)
    }

    @Test(.timeLimit(.minutes(2))) func stopKillsTheWholeProcessTree() async throws {
        let state = try temporaryState("tree")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        // The child ignores SIGTERM and starts a grandchild; stop must still end both. The pid file
        // is written after the trap is installed, so once it exists the TERM is known to be ignored.
        let started = try await driver.run(
            ContainerSpec(
                name: "stubborn",
                command: [
                    "/bin/sh", "-c",
                    "trap '' TERM; /bin/busybox sleep 3600 & echo $! > grandchild.tmp; mv grandchild.tmp grandchild; wait",
                ]))
        let pidFile = "\(state)/processes/\(started.id)/grandchild"
        let pid = try #require(
            try await Self.pid(writtenTo: pidFile), "the workload did not write its grandchild's pid to \(pidFile)")
        #expect(kill(pid, 0) == 0, "the grandchild runs before the stop")
        try await driver.stop(started.id, grace: Timespan(milliseconds: 300))
        let final = try await driver.inspect(started.id)
        #expect(final?.status == .exited)
        #expect(final?.exitCode == 137)  // SIGKILL after the grace period
        // The grandchild is gone too (a zombie until its reaper collects it counts as ended).
        var ended = false
        for _ in 0..<200 where !ended {
            ended = kill(pid, 0) != 0 || Self.isZombie(pid)
            if !ended { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ended, "the grandchild \(pid) outlived the stop")
        // It ran in its own folder: the file it wrote is not in the controller's working directory.
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/grandchild"))
        try await driver.remove(started.id)
    }

    /// The tests' cleanup (`ProcessWorkloads.endAll`) ends a workload whose shim was killed (it is
    /// then no longer tracked by anything) and one whose shim still runs, after their state
    /// directory was removed: nothing a test started outlives it.
    @Test(.timeLimit(.minutes(1))) func testCleanupEndsOrphanedAndTrackedWorkloads() async throws {
        let state = try temporaryState("cleanup")
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        var pids: [pid_t] = []
        for name in ["orphan", "tracked"] {
            let started = try await driver.run(
                ContainerSpec(
                    name: name, command: ["/bin/sh", "-c", "echo $$ > pid.tmp; mv pid.tmp pid; exec sleep 3600"]))
            pids.append(try #require(try await Self.pid(writtenTo: "\(state)/processes/\(started.id)/pid")))
        }
        // The first one's shim dies outright: its workload keeps running, untracked.
        let shims = try FileManager.default.contentsOfDirectory(atPath: state + "/processes").compactMap {
            ProcessRecords.read(ProcessRecords.State.self, from: "\(state)/processes/\($0)/state.json")
        }
        let orphanShim = try #require(shims.first { $0.pid == pids[0] }?.shimPID)
        kill(orphanShim, SIGKILL)
        try await Task.sleep(for: .milliseconds(200))
        #expect(kill(pids[0], 0) == 0, "the orphaned workload runs on")
        try FileManager.default.removeItem(atPath: state)
        let ended = ProcessWorkloads.endAll(under: state)
        #expect(ended >= 3, "ended \(ended) processes")
        for pid in pids {
            var gone = false
            for _ in 0..<100 where !gone {
                gone = kill(pid, 0) != 0 || Self.isZombie(pid)
                if !gone { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(gone, "workload \(pid) survived the cleanup")
        }
    }

    static func isZombie(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 && ProcessWorkloads.isZombie(pid) }

    /// The pid a workload writes (atomically, by rename) to `path`, waited for up to 30 s.
    static func pid(writtenTo path: String) async throws -> pid_t? {
        for _ in 0..<600 {
            if let pid = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap({
                pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }) {
                return pid
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test(.timeLimit(.minutes(2))) func withoutCgroupsMemoryIsLimitedByRlimitWithAWarning() async throws {
        let state = try temporaryState("rlimit")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath, useCgroups: false)
        let started = try await driver.run(
            ContainerSpec(
                name: "hog", command: DriverConformance.Workloads.hostProcesses.exceedMemory,
                resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 64 << 20))))
        var final = try await driver.inspect(started.id)
        for _ in 0..<200 where final?.status != .exited {
            try await Task.sleep(nanoseconds: 50_000_000)
            final = try await driver.inspect(started.id)
        }
        #expect(final?.status == .exited)
        #expect(final?.exitCode != 0, "the allocation must fail under RLIMIT_AS")
        #expect(final?.oomKilled == false)
        let lines = try await driver.logs(started.id, since: nil).map(\.text)
        #expect(lines.first?.hasPrefix("reconcile: warning: cgroups are turned off") == true, "\(lines)")
        try await driver.remove(started.id)
    }

    @Test func aSpecWithoutACommandIsRejected() async throws {
        let state = try temporaryState("nocmd")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "local", stateDirectory: state, shimPath: shimPath)
        do {
            _ = try await driver.run(ContainerSpec(name: "image-only", image: "web:1"))
            Issue.record("ran without a command")
        } catch let error as DriverError {
            #expect(error.kind == .invalidSpec)
        }
    }

    /// Replica ports come from a range the kernel never hands out by itself (below its ephemeral
    /// range), skip ports someone holds, and are not handed out twice while their replica may not
    /// have bound them yet.
    @Test func replicaPortsComeFromTheirOwnRangeAndAreNotHandedOutTwice() throws {
        let range = HostPorts.replicaRange
        let ephemeral = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(range.lowerBound == 20000 && range.upperBound <= ephemeral[0], "\(range) vs \(ephemeral)")
        var seen: Set<Int> = []
        for _ in 0..<200 {
            let port = try #require(HostPorts.replicaPort())
            #expect(range.contains(port))
            #expect(seen.insert(port).inserted, "port \(port) handed out twice")
        }
        // Three free neighbours not handed out above; the middle one held by a socket of the test's.
        let start = try #require(
            (0..<500).lazy.map { _ in Int.random(in: range.lowerBound..<(range.upperBound - 3)) }
                .first { candidate in
                    (0..<3).allSatisfy { !seen.contains(candidate + $0) && HostPorts.isFree(candidate + $0) }
                })
        let held = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(held) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(start + 1).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(held, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0)
        let small = start..<(start + 3)
        let handed = [
            HostPorts.replicaPort(in: small), HostPorts.replicaPort(in: small), HostPorts.replicaPort(in: small),
        ]
        #expect(Set(handed.compactMap { $0 }) == [start, start + 2], "handed out: \(handed)")
        #expect(handed.contains(nil), "a third port was handed out of a range with two free")
    }
}
