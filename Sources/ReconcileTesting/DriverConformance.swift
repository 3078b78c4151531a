import Foundation
import ReconcileDrivers
import ReconcileModel

/// The behaviour every `ContainerDriver` must show, run against each implementation (Docker
/// engines, the in-memory fake). Each check throws `ConformanceFailure` with what went wrong.
public struct DriverConformance: Sendable {
    /// How to express the suite's workloads on this driver.
    public struct Workloads: Sendable {
        public var image: String?
        public var sleepForever: [String]
        public var exit: @Sendable (Int) -> [String]
        public var printLines: @Sendable ([String]) -> [String]
        /// Allocates far more than 16Mi.
        public var exceedMemory: [String]
        /// Listens on TCP `port` and serves something.
        public var listen: (@Sendable (Int) -> [String])?
        /// Writes the lines to `$RECONCILE_OUTPUTS` and exits 0.
        public var writeOutputs: @Sendable ([String]) -> [String] = { lines in
            ["/bin/sh", "-c", lines.map { "echo '\($0)' >> \"$RECONCILE_OUTPUTS\"" }.joined(separator: "; ")]
        }

        public init(
            image: String?, sleepForever: [String], exit: @escaping @Sendable (Int) -> [String],
            printLines: @escaping @Sendable ([String]) -> [String], exceedMemory: [String],
            listen: (@Sendable (Int) -> [String])?,
            writeOutputs: (@Sendable ([String]) -> [String])? = nil
        ) {
            if let writeOutputs { self.writeOutputs = writeOutputs }
            self.image = image
            self.sleepForever = sleepForever
            self.exit = exit
            self.printLines = printLines
            self.exceedMemory = exceedMemory
            self.listen = listen
        }

        /// Busybox shell commands for images built from Debian's busybox-static.
        public static func busybox(image: String) -> Workloads {
            Workloads(
                image: image, sleepForever: ["/bin/sleep", "3600"],
                exit: { ["/bin/sh", "-c", "echo exiting; exit \($0)"] },
                printLines: { lines in ["/bin/sh", "-c", lines.map { "echo '\($0)'" }.joined(separator: "; ")] },
                // A child outgrows the limit and the container's first process outlives it by a few seconds,
                // as in most real containers: containerd 1.6 on cgroup v1 drops the OOM event when the
                // container's cgroup is gone before its watcher reads it (see `DockerDriver.inspect`).
                exceedMemory: [
                    "/bin/sh", "-c",
                    "/bin/sh -c 'x=$(head -c 200000000 /dev/zero | tr \"\\\\0\" x); echo ${#x}'; code=$?; sleep 3; exit $code",
                ],
                listen: { ["/bin/httpd", "-f", "-p", String($0)] })
        }

        /// Host commands for the process driver (Debian's busybox-static provides httpd).
        public static let hostProcesses = Workloads(
            image: nil, sleepForever: ["/bin/busybox", "sleep", "3600"],
            exit: { ["/bin/sh", "-c", "echo exiting; exit \($0)"] },
            printLines: { lines in ["/bin/sh", "-c", lines.map { "echo '\($0)'" }.joined(separator: "; ")] },
            exceedMemory: ["/bin/sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' 'x'); echo ${#x}"],
            listen: { ["/bin/sh", "-c", "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT_\($0)"] })

        /// The in-memory driver's command language.
        public static let inMemory = Workloads(
            image: nil, sleepForever: ["fake:sleep"], exit: { ["fake:exit", String($0)] },
            printLines: { ["fake:print"] + $0 }, exceedMemory: ["fake:oom"], listen: nil,
            writeOutputs: { ["fake:outputs"] + $0 })
    }

    public let driver: any ContainerDriver
    public let workloads: Workloads
    /// Prefix of container names, unique per run so runs never collide.
    let prefix: String

    public init(driver: any ContainerDriver, workloads: Workloads) {
        self.driver = driver
        self.workloads = workloads
        prefix = "conf-" + UUID().uuidString.prefix(8).lowercased()
    }

    func spec(
        _ name: String, _ command: [String], labels: [String: String] = [:], memory: Int64 = 64 << 20, ports: [Int] = []
    )
        -> ContainerSpec
    {
        ContainerSpec(
            name: "\(prefix)-\(name)", image: workloads.image, command: command,
            resources: Resources(cpu: CPUQuantity(millicores: 250), memory: MemoryQuantity(bytes: memory)),
            ports: ports,
            labels: labels)
    }

    /// Waits until the container has exited (bounded by `timeout`), returning its final state.
    func waitForExit(_ id: String, timeout: TimeInterval = 30) async throws -> ContainerInfo {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let info = try await driver.inspect(id), info.status == .exited { return info }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw ConformanceFailure("container \(id) did not exit within \(Int(timeout))s")
    }

    func cleanup(_ ids: [String]) async {
        for id in ids { try? await driver.remove(id) }
    }

    /// Runs a container for the duration of `body` and removes it afterwards, whatever happens.
    func using<T>(_ spec: ContainerSpec, _ body: (ContainerInfo) async throws -> T) async throws -> T {
        let started = try await driver.run(spec)
        do {
            let result = try await body(started)
            await cleanup([started.id])
            return result
        } catch {
            await cleanup([started.id])
            throw error
        }
    }

    // MARK: The checks

    /// Node info reports a positive capacity.
    public func reportsCapacity() async throws {
        let info = try await driver.info()
        try expect(info.capacity.cpu.millicores > 0, "cpu capacity \(info.capacity.cpu)")
        try expect(info.capacity.memory.bytes > 0, "memory capacity \(info.capacity.memory)")
    }

    /// Labels given at run come back from list and inspect; containers without the management label are not listed.
    public func sameLabelsInSameListingOut() async throws {
        // Not the controller's ownership labels: a controller planning on the same engine must not adopt it.
        let labels = ["test.reconcile/app": "web", "test.reconcile/slot": "2", "test.reconcile/spec": "abc123"]
        var expected = labels
        expected[ManagementLabel.key] = ManagementLabel.value
        try await using(spec("labels", workloads.sleepForever, labels: labels)) { started in
            let listed = try await driver.list().filter { $0.name == "\(prefix)-labels" }
            try expect(listed.count == 1, "listed \(listed.count) containers named \(prefix)-labels")
            try expect(listed[0].labels == expected, "labels \(listed[0].labels), expected \(expected)")
            try expect(listed[0].id == started.id, "listed id \(listed[0].id), started \(started.id)")
            let inspected = try await driver.inspect(started.id)
            try expect(inspected?.labels == expected, "inspect labels \(String(describing: inspected?.labels))")
            try expect(inspected?.status == .running, "status \(String(describing: inspected?.status))")
        }
    }

    /// A container that exits on its own reports its exit code and times.
    public func crashedContainerReportsExitCode() async throws {
        let started = try await driver.run(spec("crash", workloads.exit(3)))
        let final = try await waitForExit(started.id)
        await cleanup([started.id])
        try expect(final.exitCode == 3, "exit code \(String(describing: final.exitCode)), expected 3")
        try expect(!final.oomKilled, "reported as OOM-killed")
        try expect(final.startedAt != nil && final.finishedAt != nil, "start/finish times missing")
        if let start = final.startedAt, let end = final.finishedAt {
            // Docker records StartedAt after the process is running, so a process that exits at once can
            // show a FinishedAt a little before it; more than a second apart would be a real error.
            try expect(end >= start.addingTimeInterval(-1), "finished \(end) long before started \(start)")
        }
    }

    /// Stop ends a running container; stopping or removing twice, or something missing, is not an error.
    public func stopAndRemoveAreIdempotent() async throws {
        let started = try await driver.run(spec("stop", workloads.sleepForever))
        try await driver.stop(started.id, grace: .seconds(1))
        let stopped = try await driver.inspect(started.id)
        try expect(stopped?.status == .exited, "after stop: \(String(describing: stopped?.status))")
        try await driver.stop(started.id, grace: .seconds(1))
        try await driver.remove(started.id)
        try await driver.remove(started.id)
        try await driver.stop(started.id, grace: .seconds(1))
        try expect(try await driver.inspect(started.id) == nil, "inspect after remove is not nil")
        try expect(
            !(try await driver.list()).contains { $0.id == started.id }, "removed container still listed")
    }

    /// Exceeding the memory limit is reported as an OOM kill.
    public func oomKillIsReported() async throws {
        let started = try await driver.run(spec("oom", workloads.exceedMemory, memory: 16 << 20))
        let final = try await waitForExit(started.id, timeout: 60)
        await cleanup([started.id])
        try expect(final.oomKilled, "not reported as OOM-killed (exit \(String(describing: final.exitCode)))")
        try expect(final.exitCode != 0, "an OOM-killed container exited 0")
    }

    /// Output lines come back in order with timestamps; `since` filters by time.
    public func logsCarryTimestampsAndHonourSince() async throws {
        let before = Date().addingTimeInterval(-5)
        let started = try await driver.run(spec("logs", workloads.printLines(["first line", "second line", "third"])))
        _ = try await waitForExit(started.id)
        let lines = try await driver.logs(started.id, since: nil)
        let texts = lines.map(\.text)
        try expect(texts == ["first line", "second line", "third"], "log lines \(texts)")
        let after = Date().addingTimeInterval(5)
        try expect(lines.allSatisfy { $0.time >= before && $0.time <= after }, "timestamps outside the run")
        let later = try await driver.logs(started.id, since: Date().addingTimeInterval(60))
        try expect(later.isEmpty, "lines after a future since: \(later.map(\.text))")
        await cleanup([started.id])
    }

    /// Two containers cannot share a name; the second run fails with `.conflict` and leaves nothing behind.
    public func duplicateNameIsAConflict() async throws {
        let first = try await driver.run(spec("dup", workloads.sleepForever))
        do {
            let second = try await driver.run(spec("dup", workloads.sleepForever))
            await cleanup([first.id, second.id])
            throw ConformanceFailure("a second container with the same name started")
        } catch let error as DriverError {
            await cleanup([first.id])
            try expect(error.kind == .conflict, "error kind \(error.kind): \(error)")
        }
    }

    /// Declared ports get a host port that accepts connections.
    public func publishesPortsOnTheHost() async throws {
        guard let listen = workloads.listen else { return }
        try await using(spec("port", listen(8080), ports: [8080])) { started in
            guard let hostPort = started.ports[8080] else {
                throw ConformanceFailure("no host port for 8080: \(started.ports)")
            }
            let deadline = Date().addingTimeInterval(10)
            var connected = false
            while Date() < deadline && !connected {
                connected = Loopback.canConnect(port: hostPort, host: started.hostAddress)
                if !connected { try await Task.sleep(nanoseconds: 100_000_000) }
            }
            try expect(connected, "nothing accepts connections on \(started.hostAddress):\(hostPort)")
        }
    }

    /// Exec returns the command's exit code; a missing container is `.notFound`.
    public func execReturnsTheExitCode() async throws {
        try await using(spec("exec", workloads.sleepForever)) { started in
            let zero = try await driver.exec(started.id, command: workloads.exit(0), timeout: .seconds(10))
            try expect(zero == 0, "exec exit code \(zero), expected 0")
            let three = try await driver.exec(started.id, command: workloads.exit(3), timeout: .seconds(10))
            try expect(three == 3, "exec exit code \(three), expected 3")
        }
        do {
            _ = try await driver.exec("absent-\(prefix)", command: workloads.exit(0), timeout: .seconds(5))
            throw ConformanceFailure("exec in a missing container succeeded")
        } catch let error as DriverError {
            try expect(error.kind == .notFound, "exec in a missing container: \(error.kind), expected notFound")
        }
    }

    /// What a container wrote to `$RECONCILE_OUTPUTS` is read back once it exited; one that wrote
    /// nothing has none.
    public func outputsAreReadBack() async throws {
        var spec = spec("outputs", workloads.writeOutputs(["ROWS=42", "FILE=/data/a.csv"]))
        spec.collectsOutputs = true
        try await using(spec) { started in
            let exited = try await waitForExit(started.id)
            try expect(exited.exitCode == 0, "the outputs writer exited \(String(describing: exited.exitCode))")
            let bytes = try await driver.outputs(started.id, limit: 1024)
            try expect(
                bytes.map { String(decoding: $0, as: UTF8.self) } == "ROWS=42\nFILE=/data/a.csv\n",
                "outputs read back: \(bytes.map { String(decoding: $0, as: UTF8.self) } ?? "none")")
            let capped = try await driver.outputs(started.id, limit: 4)
            try expect(
                capped?.count == 5, "a limit of 4 reads 5 bytes (to see the file is larger), got \(capped?.count ?? -1)"
            )
        }
        var silent = self.spec("no-outputs", workloads.exit(0))
        silent.collectsOutputs = true
        try await using(silent) { started in
            _ = try await waitForExit(started.id)
            let bytes = try await driver.outputs(started.id, limit: 1024)
            try expect(bytes == nil, "a container that wrote no outputs has \(bytes?.count ?? 0) bytes of them")
        }
    }

    /// Image presence is reported for present and missing images.
    public func reportsImagePresence() async throws {
        guard let image = workloads.image else { return }
        try expect(try await driver.hasImage(image), "\(image) reported missing")
        try expect(!(try await driver.hasImage("reconcile-test/absent:0")), "a missing image reported present")
    }

    /// All checks, in order.
    public static let all: [(String, @Sendable (DriverConformance) async throws -> Void)] = [
        ("reportsCapacity", { try await $0.reportsCapacity() }),
        ("sameLabelsInSameListingOut", { try await $0.sameLabelsInSameListingOut() }),
        ("crashedContainerReportsExitCode", { try await $0.crashedContainerReportsExitCode() }),
        ("stopAndRemoveAreIdempotent", { try await $0.stopAndRemoveAreIdempotent() }),
        ("oomKillIsReported", { try await $0.oomKillIsReported() }),
        ("logsCarryTimestampsAndHonourSince", { try await $0.logsCarryTimestampsAndHonourSince() }),
        ("duplicateNameIsAConflict", { try await $0.duplicateNameIsAConflict() }),
        ("publishesPortsOnTheHost", { try await $0.publishesPortsOnTheHost() }),
        ("reportsImagePresence", { try await $0.reportsImagePresence() }),
        ("execReturnsTheExitCode", { try await $0.execReturnsTheExitCode() }),
        ("outputsAreReadBack", { try await $0.outputsAreReadBack() }),
    ]
}

public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(message()) }
}
