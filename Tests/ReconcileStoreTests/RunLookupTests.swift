import Foundation
import GRDB
import ReconcileModel
import Testing

@testable import ReconcileStore

/// A run is found by its id through an index, whatever the history: `runs show RUN` used to read
/// every run (up to 100,000, so an older one was not found at all) and took seconds at a million
/// attempts (`reconcile-bench scale --only history`).
@Suite struct RunLookupTests {
    @Test func aRunIsFoundByIdAloneOrWithItsDAGThroughAnIndex() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(stateDirectory: folder)
        let time = Date(timeIntervalSince1970: 1_800_000_000)
        func run(_ dag: String, _ id: String, hours: Double) -> RunRecord {
            let logical = time.addingTimeInterval(hours * 3600)
            return RunRecord(
                dag: dag, runID: id, logicalDate: logical, dataIntervalStart: logical, dataIntervalEnd: logical,
                commitID: "c", state: .succeeded, createdAt: logical, finishedAt: logical.addingTimeInterval(60),
                failure: nil)
        }
        for dag in ["b", "a", "c"] {
            try store.schedule(
                (0..<200).map { run(dag, "scheduled__\($0)", hours: Double($0)) }, dag: dag, cursor: time)
        }
        try store.addRun(run("b", "manual__once", hours: 0.5))

        let shared = try store.runs(withID: "scheduled__3", dag: nil)
        #expect(shared.map(\.dag) == ["a", "b", "c"])
        #expect(try store.runs(withID: "scheduled__3", dag: "c").map(\.dag) == ["c"])
        let manual = try store.runs(withID: "manual__once", dag: nil)
        #expect(manual.map(\.dag) == ["b"])
        // What the schedule recorded is kept whole, the finish time included.
        #expect(manual.first?.finishedAt == time.addingTimeInterval(1800 + 60))
        #expect(try store.runs(withID: "scheduled__999", dag: nil).isEmpty)

        // Both lookups and the runs list across DAGs read by index, not by scanning the table.
        let queries: [(sql: String, arguments: StatementArguments)] = [
            ("SELECT * FROM run WHERE runID = ? ORDER BY dag", ["x"]),
            ("SELECT * FROM run WHERE dag = ? AND runID = ?", ["b", "x"]),
            ("SELECT * FROM run ORDER BY logicalDate DESC, createdAt DESC LIMIT ?", [50]),
        ]
        let plans = try store.queue.read { db in
            try queries.map { query in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query.sql, arguments: query.arguments)
                    .map { $0["detail"] as String }.joined(separator: "; ")
            }
        }
        #expect(plans[0].contains("USING INDEX runByID"), "\(plans[0])")
        #expect(plans[1].contains("PRIMARY KEY") || plans[1].contains("sqlite_autoindex_run"), "\(plans[1])")
        #expect(plans[2].contains("runByDateAll") && !plans[2].contains("TEMP B-TREE"), "\(plans[2])")
    }
}

/// The controller's quiet ticks end when another process writes the store (the CLI's `dags
/// trigger`): its version changes then, and not for the controller's own writes.
@Suite struct ExternalVersionTests {
    @Test func anotherConnectionsWriteChangesTheVersionOwnWritesDoNot() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("version-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let controller = try Store(stateDirectory: folder)
        let cli = try Store(stateDirectory: folder)
        let start = try controller.externalVersion()
        try controller.setSetting("mine", "1")
        #expect(try controller.externalVersion() == start)
        _ = try cli.runs(limit: 1)
        #expect(try controller.externalVersion() == start)
        try cli.setPaused("load", true, at: Date())
        let after = try controller.externalVersion()
        #expect(after != start)
        #expect(try controller.externalVersion() == after)
    }
}
