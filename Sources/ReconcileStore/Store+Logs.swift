import Foundation
internal import GRDB

/// Where collecting a container's output stopped: the next lines go to `base`, whose files are
/// committed up to the sizes here (anything beyond was written by a collector that died before
/// committing, and is cut off), after the line at `timeMicros` (the `countAtTime`-th with that time).
public struct LogCursor: Sendable, Hashable {
    public var container: String
    public var base: String
    public var textSize: Int64
    public var indexSize: Int64
    public var timeMicros: Int64
    public var countAtTime: Int

    public init(container: String, base: String, textSize: Int64, indexSize: Int64, timeMicros: Int64, countAtTime: Int)
    {
        self.container = container
        self.base = base
        self.textSize = textSize
        self.indexSize = indexSize
        self.timeMicros = timeMicros
        self.countAtTime = countAtTime
    }
}

extension Store {
    public func logCursors() throws -> [String: LogCursor] {
        try queue.read { db in
            var cursors: [String: LogCursor] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM logCursor") {
                let cursor = LogCursor(
                    container: row["container"], base: row["base"], textSize: row["textSize"],
                    indexSize: row["indexSize"], timeMicros: row["timeMicros"], countAtTime: row["countAtTime"])
                cursors[cursor.container] = cursor
            }
            return cursors
        }
    }

    public func saveLogCursor(_ cursor: LogCursor, at time: Date) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO logCursor (container, base, textSize, indexSize, timeMicros, countAtTime, seenAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(container) DO UPDATE SET base = excluded.base, textSize = excluded.textSize,
                    indexSize = excluded.indexSize, timeMicros = excluded.timeMicros,
                    countAtTime = excluded.countAtTime, seenAt = excluded.seenAt
                    """,
                arguments: [
                    cursor.container, cursor.base, cursor.textSize, cursor.indexSize, cursor.timeMicros,
                    cursor.countAtTime, time,
                ])
        }
    }

    /// Forgets cursors of containers not seen since `time` (removed long ago).
    public func forgetLogCursors(notSeenSince time: Date) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM logCursor WHERE seenAt < ?", arguments: [time]) }
    }
}

extension Store {
    /// Marks the containers' cursors as seen (they still exist).
    public func touchLogCursors(_ containers: [String], at time: Date) throws {
        try queue.write { db in
            for container in containers {
                try db.execute(
                    sql: "UPDATE logCursor SET seenAt = ? WHERE container = ?", arguments: [time, container])
            }
        }
    }
}
