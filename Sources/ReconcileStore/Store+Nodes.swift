import Foundation
internal import GRDB
import ReconcileModel

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

    /// The drains asked for (`reconcile nodes drain`), by node.
    public func nodeDrains() throws -> [String: NodeSpec.Drain] {
        try queue.read { db in
            var drains: [String: NodeSpec.Drain] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, since, deadline FROM nodeDrain") {
                drains[row["name"]] = NodeSpec.Drain(cause: .requested, since: row["since"], deadline: row["deadline"])
            }
            return drains
        }
    }

    /// Starts draining a node (a second drain keeps its start and takes the new deadline).
    public func drainNode(_ name: String, since: Date, deadline: Date?) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO nodeDrain (name, since, deadline) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET deadline = excluded.deadline
                    """, arguments: [name, since, deadline])
        }
    }

    /// Ends a drain; true when the node was draining.
    @discardableResult
    public func uncordonNode(_ name: String) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM nodeDrain WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// The Nodes the controller has managed, by name (including ones since removed from git).
    public func knownNodes() throws -> [String: NodeSpec] {
        try queue.read { db in
            var nodes: [String: NodeSpec] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, spec FROM knownNode") {
                let text: String = row["spec"]
                if let spec = try? JSONDecoder().decode(NodeSpec.self, from: Data(text.utf8)) {
                    nodes[row["name"]] = spec
                }
            }
            return nodes
        }
    }

    /// Remembers a managed node's spec (as git declares it; drains are kept apart).
    public func rememberNode(_ spec: NodeSpec) throws {
        var spec = spec
        spec.drain = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(spec), as: UTF8.self)
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO knownNode (name, spec) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET spec = excluded.spec
                    """, arguments: [spec.name, text])
        }
    }

    /// Forgets a node removed from git once nothing of ours runs there (and any drain of it).
    public func forgetNode(_ name: String) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM knownNode WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM nodeDrain WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM nodeContainers WHERE name = ?", arguments: [name])
        }
    }
}
