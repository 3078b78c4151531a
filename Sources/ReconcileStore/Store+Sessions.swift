import Foundation
internal import GRDB

extension Store {
    /// Records a logged-out web session (its nonce) until `until`; expired ones are dropped.
    public func revokeSession(_ nonce: String, until: Date, now: Date) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM revokedSession WHERE until <= ?", arguments: [now])
            try db.execute(
                sql: "INSERT OR REPLACE INTO revokedSession (nonce, until) VALUES (?, ?)", arguments: [nonce, until])
        }
    }

    /// Logged-out web sessions not yet expired at `now`.
    public func revokedSessions(now: Date) throws -> [String: Date] {
        try queue.read { db in
            var sessions: [String: Date] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT nonce, until FROM revokedSession WHERE until > ?", arguments: [now])
            {
                sessions[row["nonce"]] = row["until"]
            }
            return sessions
        }
    }
}
