import Foundation
internal import GRDB
import ReconcileModel
import Synchronization

/// The state directory's SQLite database: only what no engine knows. This first part holds the
/// reconcile passes and, per App, the revision that failed its rollout and the last good spec.
public final class Store: Sendable {
    let queue: DatabaseQueue
    private let specCache = Mutex<[String: (data: Data, spec: AppSpec)]>([:])

    /// Opens (creating and migrating when needed) `stateDirectory/reconcile.sqlite`.
    public init(stateDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Write-ahead log: a commit is one append, readers never wait for the writer. With `NORMAL` a
        // commit survives a crash of the process (SIGKILL included); only a power cut may lose the
        // last commits before the next checkpoint, never corrupt the file.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        // A controller and a CLI command may open a new state directory at the same moment: one
        // switches it to the write-ahead log and migrates while the other waits on the lock, then
        // finds both done. The switch is under the lock too: outside it, an opener's switch waited
        // on another's migration only as long as the busy timeout, and a migration slowed by a
        // loaded disk outlasted it ("database is locked").
        let lock = open(stateDirectory + "/reconcile.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        defer { if lock >= 0 { close(lock) } }
        if lock >= 0 { flock(lock, LOCK_EX) }
        queue = try DatabaseQueue(path: stateDirectory + "/reconcile.sqlite", configuration: configuration)
        try Self.migrator.migrate(queue)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: passes and rollouts") { db in
            try db.create(table: "pass") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("startedAt", .datetime).notNull()
                table.column("finishedAt", .datetime).notNull()
                table.column("commitID", .text).notNull()
                table.column("actions", .integer).notNull()
                table.column("summary", .text).notNull()
                table.column("failures", .text).notNull()
            }
            try db.create(table: "rollout") { table in
                table.primaryKey("app", .text)
                table.column("failedHash", .text)
                table.column("failedAt", .datetime)
                table.column("goodHash", .text)
                table.column("goodSpec", .blob)
            }
        }
        migrator.registerMigration("v2: node reachability and rollout history") { db in
            try db.create(table: "node") { table in
                table.primaryKey("name", .text)
                table.column("unreachableSince", .datetime).notNull()
            }
            try db.create(table: "nodeContainers") { table in
                table.primaryKey("name", .text)
                table.column("containers", .blob).notNull()
            }
            try db.create(table: "rolloutEvent") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("app", .text).notNull().indexed()
                table.column("at", .datetime).notNull()
                table.column("event", .text).notNull()
                table.column("fromHash", .text)
                table.column("toHash", .text).notNull()
                table.column("commitID", .text).notNull()
                table.column("detail", .text).notNull()
            }
        }
        migrator.registerMigration("v3: DAG runs and task attempts") { db in
            try db.create(table: "dagCursor") { table in
                table.primaryKey("dag", .text)
                table.column("cursor", .datetime).notNull()
            }
            try db.create(table: "run") { table in
                table.column("dag", .text).notNull()
                table.column("runID", .text).notNull()
                table.column("logicalDate", .datetime).notNull()
                table.column("dataIntervalStart", .datetime).notNull()
                table.column("dataIntervalEnd", .datetime).notNull()
                table.column("commitID", .text).notNull()
                table.column("state", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("finishedAt", .datetime)
                table.column("failure", .text)
                table.primaryKey(["dag", "runID"])
            }
            try db.create(table: "attempt") { table in
                table.column("dag", .text).notNull()
                table.column("runID", .text).notNull()
                table.column("task", .text).notNull()
                table.column("tryNumber", .integer).notNull()
                table.column("node", .text).notNull()
                table.column("containerName", .text).notNull()
                table.column("state", .text).notNull()
                table.column("exitCode", .integer)
                table.column("startedAt", .datetime).notNull()
                table.column("finishedAt", .datetime)
                // Set by `rerun`: kept as history, no longer counted by the run's decisions.
                table.column("cleared", .boolean).notNull().defaults(to: false)
                table.primaryKey(["dag", "runID", "task", "tryNumber"])
            }
        }
        migrator.registerMigration("v4: attempt logs and settings") { db in
            // Where the attempt's output was saved when it finished (its container is then removed).
            try db.alter(table: "attempt") { table in table.add(column: "logPath", .text) }
            // Facts the controller shares with the commands, e.g. which repository it follows.
            try db.create(table: "setting") { table in
                table.primaryKey("key", .text)
                table.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("v5: checks, incidents, silences and the outbox") { db in
            try db.create(table: "checkState") { table in
                table.primaryKey("name", .text)
                table.column("state", .text).notNull()  // JSON
            }
            try db.create(table: "incident") { table in
                table.primaryKey("key", .text)
                table.column("incident", .text).notNull()  // JSON
            }
            try db.create(table: "incidentHistory") { table in
                table.column("id", .text).primaryKey()
                table.column("key", .text).notNull()
                table.column("openedAt", .datetime).notNull()
                table.column("resolvedAt", .datetime)
                table.column("summary", .text).notNull()
            }
            try db.create(table: "silence") { table in
                table.primaryKey("key", .text)
                table.column("until", .datetime).notNull()
            }
            try db.create(table: "outbox") { table in
                table.column("idempotencyKey", .text).primaryKey()
                table.column("notifier", .text).notNull()
                table.column("notice", .text).notNull()  // JSON
                table.column("createdAt", .datetime).notNull()
                table.column("attempts", .integer).notNull().defaults(to: 0)
                table.column("nextAttemptAt", .datetime).notNull()
                table.column("sentAt", .datetime)
                table.column("failedAt", .datetime)
                table.column("lastError", .text)
            }
        }
        migrator.registerMigration("v6: log collection cursors") { db in
            // Per container: the segment its lines go to, the sizes up to which they are committed,
            // and the last line's time (µs) with how many lines had exactly that time.
            try db.create(table: "logCursor") { table in
                table.primaryKey("container", .text)
                table.column("base", .text).notNull()
                table.column("textSize", .integer).notNull()
                table.column("indexSize", .integer).notNull()
                table.column("timeMicros", .integer).notNull()
                table.column("countAtTime", .integer).notNull()
                table.column("seenAt", .datetime).notNull()
            }
        }
        migrator.registerMigration("v7: run indexes and state counts") { db in
            // Every tick reads each DAG's running runs and latest runs, and the notices due: by
            // index, not by scanning the whole history (the controller's CPU grew with it).
            try db.execute(
                sql: """
                    CREATE INDEX runByDate ON run(dag, logicalDate DESC, createdAt DESC);
                    CREATE INDEX runByState ON run(dag, state, logicalDate DESC, createdAt DESC);
                    CREATE INDEX runByStateOnly ON run(state);
                    CREATE INDEX outboxPending ON outbox(nextAttemptAt) WHERE sentAt IS NULL AND failedAt IS NULL;
                    """)
            // Runs and (uncleared) attempts per state, kept by triggers: the metrics read them every
            // pass, and counting the tables grew with the history.
            try db.execute(
                sql: """
                    CREATE TABLE stateCount (
                        kind TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, state));
                    INSERT INTO stateCount SELECT 'run', state, COUNT(*) FROM run GROUP BY state;
                    INSERT INTO stateCount SELECT 'attempt', state, COUNT(*) FROM attempt WHERE cleared = 0 GROUP BY state;
                    CREATE TRIGGER runCountInsert AFTER INSERT ON run BEGIN
                        INSERT INTO stateCount VALUES ('run', NEW.state, 1)
                        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER runCountUpdate AFTER UPDATE OF state ON run BEGIN
                        UPDATE stateCount SET n = n - 1 WHERE kind = 'run' AND state = OLD.state;
                        INSERT INTO stateCount VALUES ('run', NEW.state, 1)
                        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER runCountDelete AFTER DELETE ON run BEGIN
                        UPDATE stateCount SET n = n - 1 WHERE kind = 'run' AND state = OLD.state;
                    END;
                    CREATE TRIGGER attemptCountInsert AFTER INSERT ON attempt WHEN NEW.cleared = 0 BEGIN
                        INSERT INTO stateCount VALUES ('attempt', NEW.state, 1)
                        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER attemptCountUpdate AFTER UPDATE OF state, cleared ON attempt BEGIN
                        UPDATE stateCount SET n = n - 1 WHERE kind = 'attempt' AND state = OLD.state AND OLD.cleared = 0;
                        INSERT INTO stateCount SELECT 'attempt', NEW.state, 1 WHERE NEW.cleared = 0
                        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
                    END;
                    CREATE TRIGGER attemptCountDelete AFTER DELETE ON attempt WHEN OLD.cleared = 0 BEGIN
                        UPDATE stateCount SET n = n - 1 WHERE kind = 'attempt' AND state = OLD.state;
                    END;
                    """)
        }
        migrator.registerMigration("v8: revoked web sessions") { db in
            // Logged-out web sessions, until their cookies would have expired: a restart must not
            // bring a logged-out cookie back.
            try db.create(table: "revokedSession") { table in
                table.primaryKey("nonce", .text)
                table.column("until", .datetime).notNull()
            }
        }
        migrator.registerMigration("v9: attempt errors, waiting reasons and placements") { db in
            // Why an attempt failed without an exit code of its own (JSON of AttemptError).
            try db.alter(table: "attempt") { table in table.add(column: "error", .text) }
            // Why each task of a running run is not running (JSON of WaitingReason), since when.
            try db.create(table: "taskWaiting") { table in
                table.column("dag", .text).notNull()
                table.column("runID", .text).notNull()
                table.column("task", .text).notNull()
                table.column("reason", .text).notNull()
                table.column("since", .datetime).notNull()
                table.primaryKey(["dag", "runID", "task"])
            }
            // Where each replica was placed and why (JSON of NodeLedger.Placement), by container name.
            try db.create(table: "placement") { table in
                table.primaryKey("container", .text)
                table.column("app", .text).notNull()
                table.column("slot", .integer).notNull()
                table.column("node", .text).notNull()
                table.column("placement", .text).notNull()
                table.column("at", .datetime).notNull()
            }
        }
        migrator.registerMigration("v10: node drains and remembered nodes") { db in
            // Drains asked for with `reconcile nodes drain` (until `uncordon`).
            try db.create(table: "nodeDrain") { table in
                table.primaryKey("name", .text)
                table.column("since", .datetime).notNull()
                table.column("deadline", .datetime)
            }
            // Every Node the controller has managed (JSON of NodeSpec): one removed from git is
            // drained through this spec and forgotten once nothing of ours runs on it.
            try db.create(table: "knownNode") { table in
                table.primaryKey("name", .text)
                table.column("spec", .text).notNull()
            }
        }
        migrator.registerMigration("v11: remembered volumes") { db in
            // Every Volume git has declared, with the node that holds it and its reclaim policy as
            // last declared: one removed from git with reclaim delete is deleted through this row.
            try db.create(table: "knownVolume") { table in
                table.primaryKey("name", .text)
                table.column("node", .text).notNull()
                table.column("reclaim", .text).notNull()
            }
        }
        migrator.registerMigration("v12: params, cancels, marks, outputs, pauses") { db in
            // A run's param values (JSON object) and when someone asked to cancel it.
            try db.alter(table: "run") { table in
                table.add(column: "params", .text)
                table.add(column: "cancelRequestedAt", .datetime)
            }
            // What a task wrote to $RECONCILE_OUTPUTS (JSON object), and attempts a person recorded
            // (`runs mark`) rather than a container ran.
            try db.alter(table: "attempt") { table in
                table.add(column: "outputs", .text)
                table.add(column: "marked", .boolean).notNull().defaults(to: false)
            }
            // DAGs paused with `reconcile dags pause` (the git field paused: is the other way).
            try db.create(table: "dagPause") { table in
                table.primaryKey("dag", .text)
                table.column("since", .datetime).notNull()
            }
            // Retention deletes finished runs by age.
            try db.execute(sql: "CREATE INDEX runByFinish ON run(finishedAt) WHERE finishedAt IS NOT NULL")
        }
        migrator.registerMigration("v13: runs by id and by date across DAGs") { db in
            // A run named by its id alone (`runs show RUN`) and the runs list across DAGs read by
            // index: with a million attempts stored, scanning the runs took seconds per request.
            try db.execute(
                sql: """
                    CREATE INDEX runByID ON run(runID);
                    CREATE INDEX runByDateAll ON run(logicalDate DESC, createdAt DESC);
                    """)
        }
        return migrator
    }

    /// Changes when another connection (another process: the CLI's `dags trigger`, `runs cancel`)
    /// commits to the store; this store's own writes leave it as it is (SQLite's data_version).
    public func externalVersion() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    public struct PassRecord: Sendable, Hashable {
        public var id: Int64?
        public var startedAt: Date
        public var finishedAt: Date
        public var commitID: String
        public var actions: Int
        /// The plan's human lines.
        public var summary: String
        /// One line per failed action; empty when all succeeded.
        public var failures: String

        public init(
            startedAt: Date, finishedAt: Date, commitID: String, actions: Int, summary: String, failures: String
        ) {
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.commitID = commitID
            self.actions = actions
            self.summary = summary
            self.failures = failures
        }
    }

    public func record(_ pass: PassRecord) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO pass (startedAt, finishedAt, commitID, actions, summary, failures)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [pass.startedAt, pass.finishedAt, pass.commitID, pass.actions, pass.summary, pass.failures])
            // A pass every 2 s is 43,200 rows a day: every 500th insert drops the passes that did
            // nothing and are over a day old, keeping each commit's first pass (when it was applied).
            if db.lastInsertedRowID % 500 == 0 {
                try db.execute(
                    sql: """
                        DELETE FROM pass WHERE actions = 0 AND failures = '' AND finishedAt < ?
                        AND id NOT IN (SELECT MIN(id) FROM pass GROUP BY commitID)
                        """,
                    arguments: [pass.finishedAt.addingTimeInterval(-Self.noOpPassRetention)])
            }
        }
    }

    /// How long passes that changed nothing are kept.
    public static let noOpPassRetention: TimeInterval = 24 * 3600

    /// When the first recorded pass at `commit` started (when the commit was applied); nil when none did.
    public func firstPass(commit: String) throws -> Date? {
        try queue.read { db in
            try Date.fetchOne(db, sql: "SELECT MIN(startedAt) FROM pass WHERE commitID = ?", arguments: [commit])
        }
    }

    /// The latest passes, newest first.
    public func passes(limit: Int = 20) throws -> [PassRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM pass ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                var record = PassRecord(
                    startedAt: row["startedAt"], finishedAt: row["finishedAt"], commitID: row["commitID"],
                    actions: row["actions"], summary: row["summary"], failures: row["failures"])
                record.id = row["id"]
                return record
            }
        }
    }

    /// Remembers that `hash` failed its rollout, so it is not rolled out again until git changes it.
    public func recordFailedRollout(app: String, hash: String, at time: Date) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rollout (app, failedHash, failedAt) VALUES (?, ?, ?)
                    ON CONFLICT(app) DO UPDATE SET failedHash = excluded.failedHash, failedAt = excluded.failedAt
                    """, arguments: [app, hash, time])
        }
    }

    /// Remembers a spec all of whose replicas ran ready: the target of a later rollback.
    public func recordGood(_ app: AppSpec, hash: String) throws {
        let spec = try JSONEncoder().encode(app)
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rollout (app, goodHash, goodSpec) VALUES (?, ?, ?)
                    ON CONFLICT(app) DO UPDATE SET goodHash = excluded.goodHash, goodSpec = excluded.goodSpec
                    """, arguments: [app.name, hash, spec])
        }
    }

    /// Per App: the failed revision's hash (without decoding the good specs).
    public func failedRollouts() throws -> [String: String] {
        try queue.read { db in
            var failed: [String: String] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT app, failedHash FROM rollout WHERE failedHash IS NOT NULL"))
            {
                failed[row["app"]] = row["failedHash"]
            }
            return failed
        }
    }

    /// A good spec, decoded once per stored version (this is read every pass).
    private func decodedSpec(_ app: String, _ data: Data) -> AppSpec? {
        if let cached = specCache.withLock({ $0[app] }), cached.data == data { return cached.spec }
        guard let spec = try? JSONDecoder().decode(AppSpec.self, from: data) else { return nil }
        specCache.withLock { $0[app] = (data, spec) }
        return spec
    }

    /// Per App: the failed revision's hash, and the last good spec.
    public func rollouts() throws -> (failed: [String: String], good: [String: AppSpec]) {
        try queue.read { db in
            var failed: [String: String] = [:]
            var good: [String: AppSpec] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT app, failedHash, goodSpec FROM rollout") {
                let app: String = row["app"]
                if let hash: String = row["failedHash"] { failed[app] = hash }
                if let data: Data = row["goodSpec"], let spec = decodedSpec(app, data) { good[app] = spec }
            }
            return (failed, good)
        }
    }
}
