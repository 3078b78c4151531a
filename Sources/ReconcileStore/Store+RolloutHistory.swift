import Foundation
internal import GRDB
import ReconcileModel

extension RolloutEvent {
    init?(row: Row) {
        guard let kind = Kind(rawValue: row["event"]) else { return nil }
        self.init(
            app: row["app"], at: row["at"], kind: kind, fromHash: row["fromHash"], toHash: row["toHash"],
            commitID: row["commitID"], detail: row["detail"])
    }
}

extension Store {
    /// Records the event and, in the same transaction, the notices it causes (into the outbox).
    public func recordRolloutEvent(_ event: RolloutEvent, notices: [Notice] = []) throws {
        let encoded = try notices.map { ($0, try Self.json($0)) }
        try queue.write { db in
            for (notice, text) in encoded {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO outbox (idempotencyKey, notifier, notice, createdAt, nextAttemptAt)
                        VALUES (?, ?, ?, ?, ?)
                        """, arguments: [notice.idempotencyKey, notice.notifier, text, event.at, event.at])
            }
            try db.execute(
                sql: """
                    INSERT INTO rolloutEvent (app, at, event, fromHash, toHash, commitID, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    event.app, event.at, event.kind.rawValue, event.fromHash, event.toHash, event.commitID,
                    event.detail,
                ])
        }
    }

    /// The newest event of every App that has one, in one query (the controller reads it each pass).
    public func latestRolloutEvents() throws -> [String: RolloutEvent] {
        try queue.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM rolloutEvent WHERE id IN (SELECT MAX(id) FROM rolloutEvent GROUP BY app)")
            var latest: [String: RolloutEvent] = [:]
            for event in rows.compactMap(RolloutEvent.init(row:)) { latest[event.app] = event }
            return latest
        }
    }

    /// The rollout history, newest first; of one App when `app` is given.
    public func rolloutHistory(app: String? = nil, limit: Int = 50) throws -> [RolloutEvent] {
        try queue.read { db in
            let rows =
                if let app {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM rolloutEvent WHERE app = ? ORDER BY id DESC LIMIT ?",
                        arguments: [app, limit])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM rolloutEvent ORDER BY id DESC LIMIT ?", arguments: [limit])
                }
            return rows.compactMap(RolloutEvent.init(row:))
        }
    }
}
