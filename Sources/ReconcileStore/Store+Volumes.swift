import Foundation
internal import GRDB

extension Store {
    /// A Volume the controller has seen in git: where its data is and what to do when it leaves git.
    public struct KnownVolume: Sendable, Hashable {
        public var name: String
        public var node: String
        /// `retain` or `delete`, as last declared.
        public var reclaim: String

        public init(name: String, node: String, reclaim: String) {
            self.name = name
            self.node = node
            self.reclaim = reclaim
        }
    }

    public func knownVolumes() throws -> [KnownVolume] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT name, node, reclaim FROM knownVolume ORDER BY name").map {
                KnownVolume(name: $0["name"], node: $0["node"], reclaim: $0["reclaim"])
            }
        }
    }

    public func rememberVolume(_ volume: KnownVolume) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO knownVolume (name, node, reclaim) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET node = excluded.node, reclaim = excluded.reclaim
                    """, arguments: [volume.name, volume.node, volume.reclaim])
        }
    }

    public func forgetVolume(_ name: String) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM knownVolume WHERE name = ?", arguments: [name]) }
    }
}
