import Foundation
internal import GRDB
import ReconcileModel

/// Where each replica was placed and why, recorded when its start is applied: `reconcile explain`
/// shows it for as long as the replica's container exists.
public struct PlacementRecord: Sendable, Hashable {
    public var container: String
    public var app: String
    public var slot: Int
    public var placement: PlacementDecision
    public var at: Date

    public init(container: String, app: String, slot: Int, placement: PlacementDecision, at: Date) {
        self.container = container
        self.app = app
        self.slot = slot
        self.placement = placement
        self.at = at
    }
}

extension Store {
    public func recordPlacements(_ records: [PlacementRecord]) throws {
        guard !records.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try queue.write { db in
            for record in records {
                try db.execute(
                    sql: """
                        INSERT INTO placement (container, app, slot, node, placement, at) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(container) DO UPDATE SET node = excluded.node, placement = excluded.placement,
                        at = excluded.at
                        """,
                    arguments: [
                        record.container, record.app, record.slot, record.placement.node,
                        String(decoding: try encoder.encode(record.placement), as: UTF8.self), record.at,
                    ])
            }
        }
    }

    /// The App's recorded placements, by container name.
    public func placements(app: String) throws -> [String: PlacementRecord] {
        try queue.read { db in
            var result: [String: PlacementRecord] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM placement WHERE app = ?", arguments: [app]) {
                let json: String = row["placement"]
                guard let placement = try? JSONDecoder().decode(PlacementDecision.self, from: Data(json.utf8))
                else { continue }
                let record = PlacementRecord(
                    container: row["container"], app: row["app"], slot: row["slot"], placement: placement, at: row["at"]
                )
                result[record.container] = record
            }
            return result
        }
    }

    /// Forgets the placements of containers that no longer exist (every App's).
    public func keepPlacements(only containers: Set<String>) throws {
        try queue.write { db in
            let rows = try String.fetchAll(db, sql: "SELECT container FROM placement")
            for name in rows where !containers.contains(name) {
                try db.execute(sql: "DELETE FROM placement WHERE container = ?", arguments: [name])
            }
        }
    }
}
