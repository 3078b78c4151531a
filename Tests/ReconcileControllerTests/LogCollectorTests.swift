import Foundation
import ReconcileController
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcileStore
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

    /// A replica prints 600 numbered lines while collectors come and go: some are replaced by a
    /// new one (a restart), one "dies" after appending but before committing (its tail is on disk,
    /// its cursor is not). Segments rotate at 1 KiB. At the end every line is stored exactly once,
    /// in order.
    @Test(.timeLimit(.minutes(2))) func noLineIsLostOrStoredTwiceAcrossRestartsAndRotation() async throws {
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
                    "/bin/sh", "-c", "i=0; while [ $i -lt 600 ]; do echo line $i; i=$((i+1)); sleep 0.003; done",
                ],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"]))
        defer { Task { try? await driver.remove(container.id) } }
        var collector = LogCollector(store: store, logs: logs, log: { _ in })
        collector.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
        var rounds = 0
        var injected = false
        while try await driver.inspect(container.id)?.status == .running || rounds < 2 {
            await collector.collect(now: Date())
            rounds += 1
            if rounds % 3 == 0 {
                // A restart: a new collector, with nothing in memory.
                collector = LogCollector(store: store, logs: logs, log: { _ in })
                collector.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
            }
            if rounds == 4, let cursor = try store.logCursors()[container.id] {
                // A collector that died between appending and committing: lines it had read are on
                // disk past the committed sizes. The next collector must cut them off and read them again.
                try LogSegment.append(
                    [CollectedLine(time: Date(), stderr: false, text: "uncommitted duplicate")], to: cursor.base)
                injected = true
                collector = LogCollector(store: store, logs: logs, log: { _ in })
                collector.update(LogCollector.Inputs(nodes: [node], drivers: ["here": driver]))
            }
            try await Task.sleep(for: .milliseconds(40))
        }
        await collector.collect(now: Date())
        let segments = logs.segments(app: "web")
        #expect(segments.count == 1)
        #expect((segments.first?.bases.count ?? 0) > 3, "rotation at 1 KiB")
        let lines = LogStore.search(segments.map { ($0.replica, $0.bases) }, pattern: nil, since: nil).map(\.line.text)
        #expect(lines == (0..<600).map { "line \($0)" })
        #expect(rounds > 6)
        #expect(injected)
        let found = LogStore.search(
            segments.map { ($0.replica, $0.bases) }, pattern: try LogPattern(#"^line 59\d$"#, multiline: true),
            since: nil)
        #expect(found.map(\.line.text) == (590..<600).map { "line \($0)" })
    }
}
