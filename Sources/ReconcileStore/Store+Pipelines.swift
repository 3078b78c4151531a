import Foundation
internal import GRDB

/// What people do to runs and DAGs besides triggering them: pause, cancel, mark, and retention.
extension Store {
    /// Pauses or unpauses the DAG (kept across restarts; the git field `paused:` is the other way).
    public func setPaused(_ dag: String, _ paused: Bool, at time: Date) throws {
        try queue.write { db in
            if paused {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO dagPause (dag, since) VALUES (?, ?)", arguments: [dag, time])
            } else {
                try db.execute(sql: "DELETE FROM dagPause WHERE dag = ?", arguments: [dag])
            }
        }
    }

    /// DAGs paused by hand, with since when.
    public func pausedDAGs() throws -> [String: Date] {
        try queue.read { db in
            var result: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT dag, since FROM dagPause") {
                result[row["dag"]] = row["since"]
            }
            return result
        }
    }

    /// Asks the controller to cancel a running run; false when it is not running (finished or unknown).
    public func requestCancel(dag: String, runID: String, at time: Date) throws -> Bool {
        try queue.write { db in
            try db.execute(
                sql: """
                    UPDATE run SET cancelRequestedAt = COALESCE(cancelRequestedAt, ?)
                    WHERE dag = ? AND runID = ? AND state = 'running'
                    """, arguments: [time, dag, runID])
            return db.changesCount > 0
        }
    }

    public enum MarkRefusal: Error, Sendable, Equatable {
        case noRun
        case cancelled
        case running(tryNumber: Int)
    }

    /// Records that `task` of the run succeeded or failed as a person decided: a final attempt with
    /// no container (try number after every earlier one), and the run back to running so the
    /// controller goes on from there (its downstream runs after a success; it fails after a failure).
    /// Refused while the task has a try under way (cancel the run or wait) and in a cancelled run.
    public func markTask(
        dag: String, runID: String, task: String, succeeded: Bool, at time: Date
    ) throws -> Result<AttemptRecord, MarkRefusal> {
        try queue.write { db in
            guard
                let state = try String.fetchOne(
                    db, sql: "SELECT state FROM run WHERE dag = ? AND runID = ?", arguments: [dag, runID])
            else { return .failure(.noRun) }
            if state == RunRecord.State.cancelled.rawValue { return .failure(.cancelled) }
            let attempts = try Row.fetchAll(
                db, sql: "SELECT * FROM attempt WHERE dag = ? AND runID = ? AND task = ? ORDER BY tryNumber",
                arguments: [dag, runID, task]
            ).map(AttemptRecord.init(row:))
            if let live = attempts.last(where: { !$0.cleared }), live.state == .recorded || live.state == .running {
                return .failure(.running(tryNumber: live.tryNumber))
            }
            let record = AttemptRecord(
                dag: dag, runID: runID, task: task, tryNumber: (attempts.map(\.tryNumber).max() ?? 0) + 1, node: "",
                containerName: "", state: succeeded ? .succeeded : .failed, startedAt: time, finishedAt: time,
                marked: true)
            try db.execute(
                sql: """
                    INSERT INTO attempt (dag, runID, task, tryNumber, node, containerName, state, startedAt, finishedAt, marked)
                    VALUES (?, ?, ?, ?, '', '', ?, ?, ?, 1)
                    """,
                arguments: [dag, runID, task, record.tryNumber, record.state.rawValue, time, time])
            try db.execute(
                sql: """
                    UPDATE run SET state = 'running', finishedAt = NULL, failure = NULL
                    WHERE dag = ? AND runID = ? AND state != 'running'
                    """, arguments: [dag, runID])
            return .success(record)
        }
    }

    /// Succeeded runs of `dags` that finished at or after `since`, oldest finish first (what
    /// `schedule: {after: [...]}` DAGs start from).
    public func succeededRuns(of dags: [String], finishedSince since: Date) throws -> [RunRecord] {
        guard !dags.isEmpty else { return [] }
        return try queue.read { db in
            let marks = Array(repeating: "?", count: dags.count).joined(separator: ",")
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM run WHERE state = 'succeeded' AND dag IN (\(marks)) AND finishedAt >= ?
                    ORDER BY finishedAt LIMIT 10000
                    """, arguments: StatementArguments(dags + [since])
            ).map(RunRecord.init(row:))
        }
    }

    /// Succeeded runs of `dags` whose data interval ends at one of `ends`.
    public func succeededRuns(of dags: [String], intervalEnds ends: Set<Date>) throws -> [RunRecord] {
        guard !dags.isEmpty, !ends.isEmpty else { return [] }
        return try queue.read { db in
            let dagMarks = Array(repeating: "?", count: dags.count).joined(separator: ",")
            let endMarks = Array(repeating: "?", count: ends.count).joined(separator: ",")
            var arguments = StatementArguments(dags)
            _ = arguments.append(contentsOf: StatementArguments(ends.sorted()))
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM run WHERE state = 'succeeded' AND dag IN (\(dagMarks))
                    AND dataIntervalEnd IN (\(endMarks))
                    """, arguments: arguments
            ).map(RunRecord.init(row:))
        }
    }

    /// The DAG's runs of these run ids that exist (a cross-DAG run is created once).
    public func existingRunIDs(dag: String, among runIDs: [String]) throws -> Set<String> {
        guard !runIDs.isEmpty else { return [] }
        return try queue.read { db in
            let marks = Array(repeating: "?", count: runIDs.count).joined(separator: ",")
            return Set(
                try String.fetchAll(
                    db, sql: "SELECT runID FROM run WHERE dag = ? AND runID IN (\(marks))",
                    arguments: StatementArguments([dag] + runIDs)))
        }
    }

    /// A run removed by retention: where its attempts ran and where their output was saved.
    public struct PrunedRun: Sendable, Hashable {
        public var dag: String
        public var runID: String
        public var state: RunRecord.State
        public var nodes: Set<String>
        public var logPaths: [String]
    }

    /// Deletes finished runs that finished before `before` with their attempts and waiting reasons,
    /// oldest finish first, at most `limit` per call, never a running run and never the newest run
    /// (by logical date) of its DAG. Returns what was deleted, for removing files and volumes.
    public func pruneRuns(finishedBefore before: Date, limit: Int) throws -> [PrunedRun] {
        try queue.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT dag, runID, state FROM run AS r
                    WHERE finishedAt IS NOT NULL AND finishedAt < ? AND state != 'running'
                    AND runID != (
                        SELECT runID FROM run WHERE dag = r.dag ORDER BY logicalDate DESC, createdAt DESC LIMIT 1)
                    ORDER BY finishedAt LIMIT ?
                    """, arguments: [before, limit])
            var pruned: [PrunedRun] = []
            for row in rows {
                let dag: String = row["dag"]
                let runID: String = row["runID"]
                var nodes: Set<String> = []
                var logs: [String] = []
                for attempt in try Row.fetchAll(
                    db, sql: "SELECT node, logPath FROM attempt WHERE dag = ? AND runID = ?", arguments: [dag, runID])
                {
                    let node: String = attempt["node"]
                    if !node.isEmpty { nodes.insert(node) }
                    if let path: String = attempt["logPath"] { logs.append(path) }
                }
                try db.execute(sql: "DELETE FROM attempt WHERE dag = ? AND runID = ?", arguments: [dag, runID])
                try db.execute(sql: "DELETE FROM taskWaiting WHERE dag = ? AND runID = ?", arguments: [dag, runID])
                try db.execute(sql: "DELETE FROM run WHERE dag = ? AND runID = ?", arguments: [dag, runID])
                pruned.append(
                    PrunedRun(
                        dag: dag, runID: runID, state: RunRecord.State(rawValue: row["state"]) ?? .failed, nodes: nodes,
                        logPaths: logs))
            }
            return pruned
        }
    }
}
