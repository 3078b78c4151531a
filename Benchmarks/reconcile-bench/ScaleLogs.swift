import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcileRuntime
import ReconcileStore
import Synchronization

/// Log ingest: `replicas` process replicas on one node each print fixed 64-byte lines as fast as a
/// shell loop can for `window` seconds while the controller's collector runs its rounds (every 2 s).
/// Collected lines/s at the end of the window against the lines the replicas wrote in it (the
/// replicas are then stopped and a last round collects the rest, which counts what was written).
func measureIngestCurve(replicaCounts: [Int], window: Int) async throws -> Curve {
    var curve = Curve(
        id: "ingest", title: "Log ingest vs replicas writing flat out", xLabel: "replicas", yLabel: "lines/s",
        series: [],
        note:
            "Process replicas on one node running `while :; do echo <64 bytes>; done` for \(window) s while the "
            + "collector runs; collected = stored in log segments by the end of the window.")
    let shim = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("reconcile-shim").path
    let line = String(repeating: "x", count: 54) + " 0123456789"
    for replicas in replicaCounts {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let node = NodeSpec(name: "logs", backend: .process)
        let driver = try ProcessDriver(node: "logs", stateDirectory: folder, shimPath: shim)
        let store = try Store(stateDirectory: folder)
        let logStore = LogStore(stateDirectory: folder)
        let collector = LogCollector(
            store: store, logs: logStore, retention: LogCollector.Retention(maxAge: .hours(1), maxBytes: 64 << 30),
            log: { print("  collector: \($0)") })
        collector.update(LogCollector.Inputs(nodes: [node], drivers: ["logs": driver]))
        var ids: [String] = []
        for index in 0..<replicas {
            let info = try await driver.run(
                ContainerSpec(
                    name: "writer-\(index)", command: ["/bin/sh", "-c", "while :; do echo '\(line)'; done"],
                    labels: [OwnershipLabels.app: "writer-\(index)", OwnershipLabels.slot: "0"]))
            ids.append(info.id)
        }
        let stop = Stopping()
        let started = DispatchTime.now().uptimeNanoseconds
        let collecting = Task { await collector.run(stopping: { stop.isSet }) }
        try await Task.sleep(for: .seconds(window))
        let elapsed = seconds(since: started)
        let collected = storedLines(logStore.root)
        // The writers stop first: a round reads each replica's whole backlog, which grows while they write.
        for id in ids { try await driver.stop(id, grace: .seconds(1)) }
        stop.set()
        await collecting.value
        await collector.collect(now: Date())
        let written = storedLines(logStore.root)
        for id in ids { try await driver.remove(id) }
        curve.add("collected", x: Double(replicas), y: Double(collected) / elapsed)
        curve.add("written by the replicas", x: Double(replicas), y: Double(written) / elapsed, baseline: true)
        print(
            String(
                format: "  ingest %4d replicas: collected %.0f lines/s, written %.0f lines/s (%.1f s window)",
                replicas, Double(collected) / elapsed, Double(written) / elapsed, elapsed))
        fflush(nil)
    }
    return curve
}

/// Lines in every log segment under `root` (each line has one index record).
private func storedLines(_ root: String) -> Int {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
    var records = 0
    for case let path as String in walker where path.hasSuffix(".idx") {
        let size = (try? FileManager.default.attributesOfItem(atPath: root + "/" + path)[.size] as? Int) ?? 0
        records += size / LogSegment.recordSize
    }
    return records
}

private final class Stopping: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// Search time against the stored size: one segment of each size, three patterns through the log
/// store and `grep -E -c` over the same text (the same-run baseline).
func measureSearchCurve(mebibytes sizes: [Int], repeats: Int) throws -> Curve {
    var curve = Curve(
        id: "search", title: "Log search time vs stored size", xLabel: "MiB stored", yLabel: "seconds (median)",
        series: [],
        note: "One generated segment per size, searched by the log store (PCRE2 JIT) and by `grep -E -c` over "
            + "its text file; the file is in the page cache after the first run. Median of \(repeats).")
    for size in sizes {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("search-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let base = folder + "/segment"
        let began = DispatchTime.now().uptimeNanoseconds
        let (_, lines) = try writeLogSegment(base: base, mebibytes: size)
        print(String(format: "  search: wrote %d MiB (%d lines) in %.0f s", size, lines, seconds(since: began)))
        for (name, pattern) in logPatterns.prefix(2) {
            let (ours, grep, counts) = try timeSearch(base: base, pattern: pattern, runs: repeats)
            guard counts.0 == counts.1 else {
                throw BenchError("\(name): reconcile found \(counts.0) lines, grep -E \(counts.1)")
            }
            curve.add("reconcile: \(name)", x: Double(size), y: median(ours))
            curve.add("baseline grep -E: \(name)", x: Double(size), y: median(grep), baseline: true)
            print(
                String(
                    format: "  search %6d MiB %-20@ reconcile %.3f s, grep -E %.3f s", size, name as NSString,
                    median(ours), median(grep)))
            fflush(nil)
        }
    }
    return curve
}
