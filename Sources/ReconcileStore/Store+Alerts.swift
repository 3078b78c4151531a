import Foundation
internal import GRDB
import ReconcileModel

/// A notice waiting in (or sent from) the outbox.
public struct OutboxEntry: Sendable, Hashable {
    public var notice: Notice
    public var attempts: Int
    public var nextAttemptAt: Date
    public var sentAt: Date?
    public var failedAt: Date?
    public var lastError: String?
}

extension Store {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }()

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func value<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try decoder.decode(type, from: Data(text.utf8))
    }

    // MARK: Checks

    public func checkStates() throws -> [String: CheckState] {
        try queue.read { db in
            var states: [String: CheckState] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT name, state FROM checkState")) {
                states[row["name"]] = try Self.value(CheckState.self, row["state"])
            }
            return states
        }
    }

    public func saveCheckState(_ state: CheckState, name: String) throws {
        let text = try Self.json(state)
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO checkState (name, state) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET state = excluded.state
                    """, arguments: [name, text])
        }
    }

    // MARK: Incidents

    public func incidents() throws -> [Incident] {
        try queue.read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT incident FROM incident ORDER BY key")).map {
                try Self.value(Incident.self, $0)
            }
        }
    }

    /// Saves a step of the incident machine in one transaction: open incidents, ended ones, and
    /// their notices into the outbox (a notice whose key is there already is not added again).
    public func apply(open: [Incident], resolved: [Incident], notices: [Notice], now: Date) throws {
        let open = try open.map { ($0, try Self.json($0)) }
        let notices = try notices.map { ($0, try Self.json($0)) }
        try queue.write { db in
            for (incident, text) in open {
                try db.execute(
                    sql: """
                        INSERT INTO incident (key, incident) VALUES (?, ?)
                        ON CONFLICT(key) DO UPDATE SET incident = excluded.incident
                        """, arguments: [incident.key, text])
                // A pending incident (not failed for its `fireAfter` yet) is not history.
                guard incident.isFiring else { continue }
                try db.execute(
                    sql: """
                        INSERT INTO incidentHistory (id, key, openedAt, summary) VALUES (?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET summary = excluded.summary
                        """, arguments: [incident.id, incident.key, incident.openedAt, incident.summary])
            }
            for incident in resolved {
                try db.execute(sql: "DELETE FROM incident WHERE key = ?", arguments: [incident.key])
                try db.execute(
                    sql: "UPDATE incidentHistory SET resolvedAt = ? WHERE id = ?", arguments: [now, incident.id])
            }
            for (notice, text) in notices {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO outbox (idempotencyKey, notifier, notice, createdAt, nextAttemptAt)
                        VALUES (?, ?, ?, ?, ?)
                        """, arguments: [notice.idempotencyKey, notice.notifier, text, now, now])
            }
        }
    }

    // MARK: Silences

    public func silences() throws -> [String: Date] {
        try queue.read { db in
            var silences: [String: Date] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT key, until FROM silence")) {
                silences[row["key"]] = row["until"]
            }
            return silences
        }
    }

    public func silence(_ key: String, until: Date) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO silence (key, until) VALUES (?, ?)
                    ON CONFLICT(key) DO UPDATE SET until = excluded.until
                    """, arguments: [key, until])
        }
    }

    // MARK: Outbox

    /// Notices due for a (first or next) delivery attempt, oldest first.
    public func dueNotices(now: Date, limit: Int = 100) throws -> [OutboxEntry] {
        try queue.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM outbox WHERE sentAt IS NULL AND failedAt IS NULL AND nextAttemptAt <= ?
                        ORDER BY createdAt, idempotencyKey LIMIT ?
                        """), arguments: [now, limit]
            ).map(Self.entry)
        }
    }

    /// Every outbox entry, newest first.
    public func outbox(limit: Int = 100) throws -> [OutboxEntry] {
        try queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM outbox ORDER BY createdAt DESC, idempotencyKey LIMIT ?", arguments: [limit]
            )
            .map(Self.entry)
        }
    }

    private static func entry(_ row: Row) throws -> OutboxEntry {
        OutboxEntry(
            notice: try value(Notice.self, row["notice"]), attempts: row["attempts"],
            nextAttemptAt: row["nextAttemptAt"],
            sentAt: row["sentAt"], failedAt: row["failedAt"], lastError: row["lastError"])
    }

    public func markSent(_ key: String, at time: Date) throws {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE outbox SET sentAt = ?, attempts = attempts + 1, lastError = NULL WHERE idempotencyKey = ?",
                arguments: [time, key])
        }
    }

    /// A failed attempt: retried at `retryAt`, or given up when nil.
    public func markFailed(_ key: String, error: String, retryAt: Date?, now: Date) throws {
        try queue.write { db in
            if let retryAt {
                try db.execute(
                    sql: """
                        UPDATE outbox SET attempts = attempts + 1, lastError = ?, nextAttemptAt = ?
                        WHERE idempotencyKey = ?
                        """, arguments: [error, retryAt, key])
            } else {
                try db.execute(
                    sql:
                        "UPDATE outbox SET attempts = attempts + 1, lastError = ?, failedAt = ? WHERE idempotencyKey = ?",
                    arguments: [error, now, key])
            }
        }
    }
}
