import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileStore

/// Retention of DAG history (`reconcile controller --retain 90d`): finished runs that finished longer
/// ago than the retention are deleted with their attempts, their saved output and their run-scoped
/// volumes (a failed run keeps its volumes for a rerun until then), oldest first and a batch at a
/// time, never a running run and never the newest run of a DAG (its state is what `dags list` and
/// the DAG's incident show).
public enum RunRetention {
    /// Runs deleted per round: a first round on a large history does not hold the store for long.
    public static let batch = 500

    /// One round; returns how many runs were deleted.
    @discardableResult
    public static func run(
        retain: Timespan, store: Store, stateDirectory: String, drivers: [String: any ContainerDriver], now: Date
    ) async throws -> Int {
        let pruned = try store.pruneRuns(finishedBefore: now.addingTimeInterval(-retain.seconds), limit: batch)
        guard !pruned.isEmpty else { return 0 }
        var volumesByNode: [String: [String]] = [:]
        for run in pruned {
            for path in run.logPaths {
                try? FileManager.default.removeItem(atPath: path)
                if path.hasSuffix(".log") {
                    try? FileManager.default.removeItem(atPath: String(path.dropLast(4)) + ".idx")
                }
            }
            // The run's log folder, once empty.
            if let folder = run.logPaths.first.map({ ($0 as NSString).deletingLastPathComponent }),
                (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true
            {
                try? FileManager.default.removeItem(atPath: folder)
            }
            for node in run.nodes {
                let prefix = RunVolumeSpec.nodeName(dag: run.dag, runID: run.runID, volume: "")
                volumesByNode[node, default: []].append(prefix)
            }
        }
        for (node, prefixes) in volumesByNode {
            guard let driver = drivers[node], let names = try? await driver.volumes() else { continue }
            for name in names where prefixes.contains(where: name.hasPrefix) {
                try? await driver.removeVolume(name)
            }
        }
        return pruned.count
    }
}
