import Foundation
internal import GRDB

extension Store {
    /// Nodes that did not answer, with the time each was first seen so; the grace period before their
    /// replicas move elsewhere counts from there, across passes and controller restarts.
    public func unreachableNodes() throws -> [String: Date] {
        try queue.read { db in
            var nodes: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, unreachableSince FROM node") {
                nodes[row["name"]] = row["unreachableSince"]
            }
            return nodes
        }
    }

    /// Replaces the set of unreachable nodes (a node that answers again is forgotten).
    public func setUnreachableNodes(_ nodes: [String: Date]) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM node")
            for (name, since) in nodes.sorted(by: { $0.key < $1.key }) {
                try db.execute(
                    sql: "INSERT INTO node (name, unreachableSince) VALUES (?, ?)", arguments: [name, since])
            }
        }
    }

    /// What was last seen running on each node (an encoded list), so a node that stops answering
    /// keeps its replicas on the books during the grace period.
    public func lastSeenContainers() throws -> [String: Data] {
        try queue.read { db in
            var nodes: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, containers FROM nodeContainers") {
                nodes[row["name"]] = row["containers"]
            }
            return nodes
        }
    }

    public func setLastSeenContainers(_ containers: Data, node: String) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO nodeContainers (name, containers) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET containers = excluded.containers
                    """, arguments: [node, containers])
        }
    }
}
