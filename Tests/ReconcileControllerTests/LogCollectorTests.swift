import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

@Suite struct LogCollectorTests {
    static var shim: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [
            Bundle.main.bundleURL.appendingPathComponent("reconcile-shim").path,
            beside.appendingPathComponent("reconcile-shim").path,
            beside.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path,
        ] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "reconcile-shim"
    }

    /// Lines arrive between rounds (several with the very same timestamp, as engines report them);
    /// collectors come and go (a restart every third round), and one "dies" after appending but
    /// before committing (its tail is on disk, its cursor is not). Segments rotate at 512 bytes. Every
    /// line is stored exactly once, in order.
    @Test func noLineIsLostOrStoredTwiceAcrossRestartsAndRotation() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("collect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let node = NodeSpec(name: "memory", backend: .process)
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 30)))
        let store = try Store(stateDirectory: state)
        let logs = LogStore(stateDirectory: state, segmentBytes: 512)
        let container = try await driver.run(
            ContainerSpec(
                name: "web-1", command: ["fake:sleep"],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"]))
        func collector() -> LogCollector {
            let collector = LogCollector(store: store, logs: logs, log: { _ in })
            collector.update(LogCollector.Inputs(nodes: [node], drivers: ["memory": driver]))
            return collector
        }
        var current = collector()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var number = 0
        var injected = false
        for round in 0..<30 {
            // Each round: 10 lines, three of them at one instant.
            var lines: [LogLine] = []
            for index in 0..<10 {
                let time = start.addingTimeInterval(Double(round) + (index < 3 ? 0 : Double(index) / 100))
                lines.append(LogLine(time: time, stream: index % 4 == 0 ? .stderr : .stdout, text: "line \(number)"))
                number += 1
            }
            await driver.appendLog(container.id, lines)
            await current.collect(now: start.addingTimeInterval(Double(round)))
            if round % 3 == 2 { current = collector() }
            if round == 10, let cursor = try store.logCursors()[container.id] {
                try LogSegment.append(
                    [CollectedLine(time: start.addingTimeInterval(10.5), stderr: false, text: "uncommitted duplicate")],
                    to: cursor.base)
                current = collector()
                injected = true
            }
        }
        #expect(injected)
        let segments = logs.segments(app: "web")
        #expect(segments.count == 1)
        #expect((segments.first?.bases.count ?? 0) >= 5, "rotation at 512 bytes")
        let stored = LogStore.search(segments.map { ($0.replica, $0.bases) }, pattern: nil, since: nil).map(\.line)
        #expect(stored.map(\.text) == (0..<300).map { "line \($0)" })
        #expect(stored.filter(\.stderr).count == 90)
        let found = LogStore.search(
            segments.map { ($0.replica, $0.bases) }, pattern: try LogPattern(#"^line 29\d$"#, multiline: true),
            since: nil)
        #expect(found.map(\.line.text) == (290..<300).map { "line \($0)" })
    }

    /// The same with a real process printing on a process node, collected while it runs.
    @Test(.timeLimit(.minutes(2))) func aRealProcessOutputIsCollectedOnce() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("collect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let node = NodeSpec(name: "here", backend: .process)
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: Self.shim)
        let store = try Store(stateDirectory: state)
        let logs = LogStore(stateDirectory: state, segmentBytes: 1024)
        let container = try await driver.run(
            ContainerSpec(
                name: "web-1",
                command: [
                    "/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); sleep 0.005; done",
                ],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"]))
        defer { Task { try? await driver.remove(container.id) } }
        var rounds = 0
        repeat {
            let collector = LogCollector(store: store, logs: logs, log: { _ in })  // a restart every round
            collector.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
            await collector.collect(now: Date())
            rounds += 1
            try await Task.sleep(for: .milliseconds(50))
        } while try await driver.inspect(container.id)?.status == .running
        let last = LogCollector(store: store, logs: logs, log: { _ in })
        last.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
        await last.collect(now: Date())
        let stored = LogStore.search(logs.segments(app: "web").map { ($0.replica, $0.bases) }, pattern: nil, since: nil)
        #expect(stored.map(\.line.text) == (0..<300).map { "line \($0)" })
    }

    /// One collector following a replica that prints in bursts: every line is stored once, and
    /// once its output stops moving a round no longer reads it (an idle replica costs a `stat`).
    @Test(.timeLimit(.minutes(2))) func aQuietProcessReplicaIsNotReadAgain() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("collect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: Self.shim)
        try await followBursts(on: LogReadCounter(driver), state: state, image: nil)
    }

    /// The same on a (local) Docker engine: its json-file logs are what the collector looks at.
    @Test(.timeLimit(.minutes(3))) func aQuietDockerReplicaIsNotReadAgain() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("collect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "here", endpoint: engine.endpoint)
        #expect(await driver.outputMark("no-such-container") == nil, "no files: read as before")
        try await followBursts(on: LogReadCounter(driver), state: state, image: TestImage.name)
        await engine.shutdownOffPool()
    }

    /// Five bursts of 20 lines, 0.3 s apart, collected every 20 ms until the replica exits.
    private func followBursts(on driver: LogReadCounter, state: String, image: String?) async throws {
        let node = NodeSpec(name: "here", backend: .process)
        let store = try Store(stateDirectory: state)
        let logs = LogStore(stateDirectory: state)
        let container = try await driver.run(
            ContainerSpec(
                name: "web-1", image: image,
                command: [
                    "/bin/sh", "-c",
                    "b=0; while [ $b -lt 5 ]; do i=0; while [ $i -lt 20 ]; do echo line $b.$i; i=$((i+1)); done; b=$((b+1)); sleep 0.3; done",
                ],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"],
                network: .none))
        let collector = LogCollector(store: store, logs: logs, log: { _ in })
        collector.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
        var rounds = 0
        repeat {
            await collector.collect(now: Date())
            rounds += 1
            try await Task.sleep(for: .milliseconds(20))
        } while try await driver.inspect(container.id)?.status == .running
        await collector.collect(now: Date())
        let stored = LogStore.search(logs.segments(app: "web").map { ($0.replica, $0.bases) }, pattern: nil, since: nil)
        #expect(stored.map(\.line.text) == (0..<5).flatMap { b in (0..<20).map { "line \(b).\($0)" } })
        // Exited, nothing more to come: further rounds read nothing. (Whether rounds between the
        // bursts read is up to the timing of a loaded machine, so it is not asserted.)
        let reads = await driver.reads
        for _ in 0..<3 { await collector.collect(now: Date()) }
        #expect(await driver.reads == reads, "\(rounds + 1) rounds while it ran, \(reads) reads")
        try await driver.remove(container.id)
    }
}

/// A driver that counts the reads of output (`logs`).
actor LogReadCounter: ContainerDriver {
    nonisolated let node: String
    let inner: any ContainerDriver
    private(set) var reads = 0

    init(_ inner: any ContainerDriver) {
        self.inner = inner
        node = inner.node
    }

    func info() async throws -> NodeInfo { try await inner.info() }
    func list() async throws -> [ContainerInfo] { try await inner.list() }
    func run(_ spec: ContainerSpec) async throws -> ContainerInfo { try await inner.run(spec) }
    func stop(_ id: String, grace: Timespan) async throws { try await inner.stop(id, grace: grace) }
    func remove(_ id: String) async throws { try await inner.remove(id) }
    func inspect(_ id: String) async throws -> ContainerInfo? { try await inner.inspect(id) }
    func logs(_ id: String, since: Date?) async throws -> [LogLine] {
        reads += 1
        return try await inner.logs(id, since: since)
    }
    func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int {
        try await inner.exec(id, command: command, timeout: timeout)
    }
    func removeVolume(_ name: String) async throws { try await inner.removeVolume(name) }
    func volumes() async throws -> [String] { try await inner.volumes() }
    func hasImage(_ image: String) async throws -> Bool { try await inner.hasImage(image) }
    func pull(_ image: String, auth: RegistryAuth?) async throws { try await inner.pull(image, auth: auth) }
    nonisolated func exitNotices() -> ExitNotices? { inner.exitNotices() }
    func outputMark(_ id: String) async -> [Int64]? { await inner.outputMark(id) }
}
