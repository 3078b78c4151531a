import Foundation
internal import GRDB
import ReconcileModel

/// A DAG run as stored.
public struct RunRecord: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case running, succeeded, failed, cancelled
    }

    public var dag: String
    public var runID: String
    public var logicalDate: Date
    /// The param values the run's tasks see (defaults filled in).
    public var params: [String: String]
    /// When someone asked to cancel it (the controller stops it at its next step).
    public var cancelRequestedAt: Date?
    public var dataIntervalStart: Date
    public var dataIntervalEnd: Date
    /// The commit whose DAG definition created the run.
    public var commitID: String
    public var state: State
    public var createdAt: Date
    public var finishedAt: Date?
    /// For a failed run: which task(s) caused it.
    public var failure: String?

    public init(
        dag: String, runID: String, logicalDate: Date, dataIntervalStart: Date, dataIntervalEnd: Date,
        commitID: String, state: State = .running, createdAt: Date, finishedAt: Date? = nil, failure: String? = nil,
        params: [String: String] = [:], cancelRequestedAt: Date? = nil
    ) {
        self.params = params
        self.cancelRequestedAt = cancelRequestedAt
        self.dag = dag
        self.runID = runID
        self.logicalDate = logicalDate
        self.dataIntervalStart = dataIntervalStart
        self.dataIntervalEnd = dataIntervalEnd
        self.commitID = commitID
        self.state = state
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.failure = failure
    }

    init(row: Row) {
        self.init(
            dag: row["dag"], runID: row["runID"], logicalDate: row["logicalDate"],
            dataIntervalStart: row["dataIntervalStart"], dataIntervalEnd: row["dataIntervalEnd"],
            commitID: row["commitID"], state: State(rawValue: row["state"]) ?? .running, createdAt: row["createdAt"],
            finishedAt: row["finishedAt"], failure: row["failure"],
            params: (row["params"] as String?).flatMap(StoredJSON.strings) ?? [:],
            cancelRequestedAt: row["cancelRequestedAt"])
    }
}

/// One try of a task, recorded before its container starts (state `recorded`), so a controller that
/// dies in between starts it on the next pass under the same name instead of losing or doubling it.
public struct AttemptRecord: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case recorded, running, succeeded, failed, timedOut
        /// Stopped because its run was cancelled.
        case cancelled
    }

    public var dag: String
    public var runID: String
    public var task: String
    public var tryNumber: Int
    public var node: String
    public var containerName: String
    public var state: State
    public var exitCode: Int?
    public var startedAt: Date
    public var finishedAt: Date?
    /// Cleared by `rerun`: history only.
    public var cleared: Bool
    /// The saved output of a finished attempt.
    public var logPath: String?
    /// Why it failed without an exit code of its own, or how the controller ended it.
    public var error: AttemptError?
    /// What the task wrote to `$RECONCILE_OUTPUTS` (KEY=VALUE lines), once it finished.
    public var outputs: [String: String]?
    /// Recorded by a person (`runs mark`), not run: no container, final (no retry).
    public var marked: Bool

    public init(
        dag: String, runID: String, task: String, tryNumber: Int, node: String, containerName: String,
        state: State, exitCode: Int? = nil, startedAt: Date, finishedAt: Date? = nil, cleared: Bool = false,
        logPath: String? = nil, error: AttemptError? = nil, outputs: [String: String]? = nil, marked: Bool = false
    ) {
        self.outputs = outputs
        self.marked = marked
        self.error = error
        self.cleared = cleared
        self.logPath = logPath
        self.dag = dag
        self.runID = runID
        self.task = task
        self.tryNumber = tryNumber
        self.node = node
        self.containerName = containerName
        self.state = state
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    init(row: Row) {
        self.init(
            dag: row["dag"], runID: row["runID"], task: row["task"], tryNumber: row["tryNumber"], node: row["node"],
            containerName: row["containerName"], state: State(rawValue: row["state"]) ?? .recorded,
            exitCode: row["exitCode"], startedAt: row["startedAt"], finishedAt: row["finishedAt"],
            cleared: row["cleared"], logPath: row["logPath"],
            error: (row["error"] as String?).flatMap {
                try? JSONDecoder().decode(AttemptError.self, from: Data($0.utf8))
            }, outputs: (row["outputs"] as String?).flatMap(StoredJSON.strings), marked: row["marked"] ?? false)
    }
}

extension Store {
    /// Where run scheduling of the DAG stopped looking for ticks.
    public func dagCursor(_ dag: String) throws -> Date? {
        try queue.read { db in
            try Date.fetchOne(db, sql: "SELECT cursor FROM dagCursor WHERE dag = ?", arguments: [dag])
        }
    }

    /// Every DAG's cursor, in one read (the DAG step asks for all of them each time it runs).
    public func dagCursors() throws -> [String: Date] {
        try queue.read { db in
            var cursors: [String: Date] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT dag, cursor FROM dagCursor")) {
                cursors[row["dag"]] = row["cursor"]
            }
            return cursors
        }
    }

    /// Records new runs and the DAG's new cursor in one transaction (a run already there is kept).
    public func schedule(_ runs: [RunRecord], dag: String, cursor: Date) throws {
        try queue.write { db in
            for run in runs { try insert(run, db) }
            try db.execute(
                sql: """
                    INSERT INTO dagCursor (dag, cursor) VALUES (?, ?)
                    ON CONFLICT(dag) DO UPDATE SET cursor = excluded.cursor
                    """, arguments: [dag, cursor])
        }
    }

    /// Records a run started by hand (`dags trigger`); false when that run id exists.
    @discardableResult
    public func addRun(_ run: RunRecord) throws -> Bool {
        try queue.write { db in
            try insert(run, db)
            return db.changesCount > 0
        }
    }

    private func insert(_ run: RunRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO run
                (dag, runID, logicalDate, dataIntervalStart, dataIntervalEnd, commitID, state, createdAt, params,
                finishedAt, failure)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                run.dag, run.runID, run.logicalDate, run.dataIntervalStart, run.dataIntervalEnd, run.commitID,
                run.state.rawValue, run.createdAt, run.params.isEmpty ? nil : StoredJSON.text(run.params),
                run.finishedAt, run.failure,
            ])
    }

    /// The DAG's latest finished run (succeeded or failed), by logical date: one indexed row.
    public func lastFinishedRun(dag: String) throws -> RunRecord? {
        try queue.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM run WHERE dag = ? AND state IN ('succeeded', 'failed')
                        ORDER BY logicalDate DESC, createdAt DESC LIMIT 1
                        """), arguments: [dag]
            ).map(RunRecord.init(row:))
        }
    }

    /// `lastFinishedRun` of each DAG named, in one read transaction (the alerting round asks for
    /// every DAG's each second: one transaction each was most of an idle controller's store work).
    public func lastFinishedRuns(dags: [String]) throws -> [String: RunRecord] {
        try queue.read { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT * FROM run WHERE dag = ? AND state IN ('succeeded', 'failed')
                    ORDER BY logicalDate DESC, createdAt DESC LIMIT 1
                    """)
            var runs: [String: RunRecord] = [:]
            for dag in dags {
                if let row = try Row.fetchOne(statement, arguments: [dag]) { runs[dag] = RunRecord(row: row) }
            }
            return runs
        }
    }

    /// Every DAG's runs in one state, newest logical date first, at most `limit` per DAG: one read.
    public func runsByDAG(state: RunRecord.State, limit: Int = 100) throws -> [String: [RunRecord]] {
        try queue.read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT * FROM run WHERE state = ? ORDER BY dag, logicalDate DESC, createdAt DESC")
            var runs: [String: [RunRecord]] = [:]
            for row in try Row.fetchAll(statement, arguments: [state.rawValue]) {
                let run = RunRecord(row: row)
                if runs[run.dag, default: []].count < limit { runs[run.dag, default: []].append(run) }
            }
            return runs
        }
    }

    /// Runs, newest logical date first; of one DAG and/or in one state when given.
    public func runs(dag: String? = nil, state: RunRecord.State? = nil, limit: Int = 100) throws -> [RunRecord] {
        try queue.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let dag {
                conditions.append("dag = ?")
                _ = arguments.append(contentsOf: [dag])
            }
            if let state {
                conditions.append("state = ?")
                _ = arguments.append(contentsOf: [state.rawValue])
            }
            _ = arguments.append(contentsOf: [limit])
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            // Prepared once per filter (the alerting round asks every DAG's latest runs each second).
            let statement = try db.cachedStatement(
                sql: "SELECT * FROM run \(filter) ORDER BY logicalDate DESC, createdAt DESC LIMIT ?")
            return try Row.fetchAll(statement, arguments: arguments).map(RunRecord.init(row:))
        }
    }

    /// The runs whose id is `runID`: of the DAG when given (one at most), else of every DAG that has
    /// one (scheduled ids repeat across DAGs), by DAG name. Read by index, whatever the history.
    public func runs(withID runID: String, dag: String?) throws -> [RunRecord] {
        try queue.read { db in
            if let dag {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM run WHERE dag = ? AND runID = ?", arguments: [dag, runID]
                ).map(RunRecord.init(row:))
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM run WHERE runID = ? ORDER BY dag", arguments: [runID])
                .map(RunRecord.init(row:))
        }
    }

    public func finishRun(dag: String, runID: String, state: RunRecord.State, at time: Date, failure: String?) throws {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE run SET state = ?, finishedAt = ?, failure = ? WHERE dag = ? AND runID = ?",
                arguments: [state.rawValue, time, failure, dag, runID])
            try db.execute(sql: "DELETE FROM taskWaiting WHERE dag = ? AND runID = ?", arguments: [dag, runID])
        }
    }

    /// Why each task of the run that is neither running nor finished waits: replaces the run's reasons
    /// (a task that started or finished has none). `since` is kept for a reason that did not change.
    public func setWaiting(dag: String, runID: String, _ reasons: [String: WaitingReason], at time: Date) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try queue.write { db in
            var kept: [String: (json: String, since: Date)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT task, reason, since FROM taskWaiting WHERE dag = ? AND runID = ?",
                arguments: [dag, runID])
            {
                kept[row["task"]] = (row["reason"], row["since"])
            }
            try db.execute(sql: "DELETE FROM taskWaiting WHERE dag = ? AND runID = ?", arguments: [dag, runID])
            for (task, reason) in reasons.sorted(by: { $0.key < $1.key }) {
                let json = String(decoding: try encoder.encode(reason), as: UTF8.self)
                let since = kept[task].flatMap { $0.json == json ? $0.since : nil } ?? time
                try db.execute(
                    sql: "INSERT INTO taskWaiting (dag, runID, task, reason, since) VALUES (?, ?, ?, ?, ?)",
                    arguments: [dag, runID, task, json, since])
            }
        }
    }

    /// Writes only what changed: new or different reasons (since `time`) and tasks no longer waiting.
    public func updateWaiting(
        dag: String, runID: String, changed: [String: WaitingReason], gone: [String], at time: Date
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try queue.write { db in
            for task in gone {
                try db.execute(
                    sql: "DELETE FROM taskWaiting WHERE dag = ? AND runID = ? AND task = ?",
                    arguments: [dag, runID, task])
            }
            for (task, reason) in changed {
                try db.execute(
                    sql: """
                        INSERT INTO taskWaiting (dag, runID, task, reason, since) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(dag, runID, task) DO UPDATE SET reason = excluded.reason, since = excluded.since
                        """,
                    arguments: [dag, runID, task, String(decoding: try encoder.encode(reason), as: UTF8.self), time])
            }
        }
    }

    /// Why the run's tasks wait, by task, with when each reason first held.
    public func waiting(dag: String, runID: String) throws -> [String: (reason: WaitingReason, since: Date)] {
        try queue.read { db in
            var result: [String: (reason: WaitingReason, since: Date)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT task, reason, since FROM taskWaiting WHERE dag = ? AND runID = ?",
                arguments: [dag, runID])
            {
                let json: String = row["reason"]
                guard let reason = try? JSONDecoder().decode(WaitingReason.self, from: Data(json.utf8)) else {
                    continue
                }
                result[row["task"]] = (reason, row["since"])
            }
            return result
        }
    }

    /// Per DAG, the task of a running run that has waited longest for room on the nodes.
    public func roomWaits() throws -> [String: (runID: String, task: String, since: Date, reason: String)] {
        try queue.read { db in
            var oldest: [String: (runID: String, task: String, since: Date, reason: String)] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT taskWaiting.* FROM taskWaiting JOIN run USING (dag, runID)
                        WHERE run.state = 'running' AND taskWaiting.reason LIKE '{"room"%' ORDER BY taskWaiting.since
                        """))
            {
                let dag: String = row["dag"]
                guard oldest[dag] == nil else { continue }
                let json: String = row["reason"]
                guard let reason = try? JSONDecoder().decode(WaitingReason.self, from: Data(json.utf8)),
                    case .room(let text, _) = reason
                else { continue }
                oldest[dag] = (row["runID"], row["task"], row["since"], text)
            }
            return oldest
        }
    }

    /// Every attempt of a run, by task and try.
    public func attempts(dag: String, runID: String) throws -> [AttemptRecord] {
        try queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM attempt WHERE dag = ? AND runID = ? ORDER BY task, tryNumber",
                arguments: [dag, runID]
            ).map(AttemptRecord.init(row:))
        }
    }

    /// Every attempt of the DAG's runs `runIDs`, by run (one query for a page of runs).
    public func attempts(dag: String, runIDs: [String]) throws -> [String: [AttemptRecord]] {
        guard !runIDs.isEmpty else { return [:] }
        return try queue.read { db in
            let marks = Array(repeating: "?", count: runIDs.count).joined(separator: ",")
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM attempt WHERE dag = ? AND runID IN (\(marks)) ORDER BY task, tryNumber",
                arguments: StatementArguments([dag] + runIDs))
            return Dictionary(grouping: rows.map(AttemptRecord.init(row:)), by: \.runID)
        }
    }

    /// Clears the attempts of `tasks` in the run (they stay as history) and puts the run back to
    /// running, so the controller runs those tasks again (new try numbers). Returns the tasks cleared.
    @discardableResult
    public func clearAttempts(dag: String, runID: String, tasks: Set<String>) throws -> Int {
        try queue.write { db in
            var count = 0
            for task in tasks.sorted() {
                try db.execute(
                    sql: "UPDATE attempt SET cleared = 1 WHERE dag = ? AND runID = ? AND task = ? AND cleared = 0",
                    arguments: [dag, runID, task])
                count += db.changesCount > 0 ? 1 : 0
            }
            try db.execute(
                sql: "UPDATE run SET state = 'running', finishedAt = NULL, failure = NULL WHERE dag = ? AND runID = ?",
                arguments: [dag, runID])
            return count
        }
    }

    /// Inserts the attempt, or updates its state, exit code and finish time when it exists.
    public func saveAttempt(_ attempt: AttemptRecord) throws { try saveAttempts([attempt]) }

    /// Saves attempts in one transaction: all of them, or (on an error) none.
    public func saveAttempts(_ attempts: [AttemptRecord]) throws {
        guard !attempts.isEmpty else { return }
        try queue.write { db in
            for attempt in attempts { try save(attempt, db) }
        }
    }

    private func save(_ attempt: AttemptRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO attempt
                (dag, runID, task, tryNumber, node, containerName, state, exitCode, startedAt, finishedAt, logPath,
                error, outputs, marked)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(dag, runID, task, tryNumber) DO UPDATE SET
                state = excluded.state, exitCode = excluded.exitCode, finishedAt = excluded.finishedAt,
                startedAt = excluded.startedAt, logPath = excluded.logPath, error = excluded.error,
                outputs = excluded.outputs
                """,
            arguments: [
                attempt.dag, attempt.runID, attempt.task, attempt.tryNumber, attempt.node, attempt.containerName,
                attempt.state.rawValue, attempt.exitCode, attempt.startedAt, attempt.finishedAt, attempt.logPath,
                attempt.error.flatMap { try? String(decoding: JSONEncoder().encode($0), as: UTF8.self) },
                attempt.outputs.map(StoredJSON.text), attempt.marked,
            ])
    }
}

extension Store {
    /// One attempt, by its key.
    public func attempt(dag: String, runID: String, task: String, tryNumber: Int) throws -> AttemptRecord? {
        try queue.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM attempt WHERE dag = ? AND runID = ? AND task = ? AND tryNumber = ?",
                arguments: [dag, runID, task, tryNumber]
            ).map(AttemptRecord.init(row:))
        }
    }

    /// The latest attempts of a task, newest run and try first.
    public func attempts(dag: String, task: String, limit: Int = 50) throws -> [AttemptRecord] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT attempt.* FROM attempt JOIN run USING (dag, runID)
                    WHERE attempt.dag = ? AND attempt.task = ?
                    ORDER BY run.logicalDate DESC, run.createdAt DESC, attempt.tryNumber DESC LIMIT ?
                    """, arguments: [dag, task, limit]
            ).map(AttemptRecord.init(row:))
        }
    }

    /// A shared setting, e.g. the repository the controller follows.
    public func setting(_ key: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM setting WHERE key = ?"), arguments: [key])
        }
    }

    public func setSetting(_ key: String, _ value: String?) throws {
        try queue.write { db in
            if let value {
                try db.execute(
                    sql: """
                        INSERT INTO setting (key, value) VALUES (?, ?)
                        ON CONFLICT(key) DO UPDATE SET value = excluded.value
                        """, arguments: [key, value])
            } else {
                try db.execute(sql: "DELETE FROM setting WHERE key = ?", arguments: [key])
            }
        }
    }
}

extension Store {
    /// How many runs and attempts are in each state (for metrics).
    public func stateCounts() throws -> (runs: [String: Int], attempts: [String: Int]) {
        // Kept by triggers (migration v7): reading them costs the same with any history.
        try queue.read { db in
            var runs: [String: Int] = [:]
            var attempts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, state, n FROM stateCount WHERE n > 0") {
                let kind: String = row["kind"]
                if kind == "run" { runs[row["state"]] = row["n"] } else { attempts[row["state"]] = row["n"] }
            }
            return (runs, attempts)
        }
    }
}
