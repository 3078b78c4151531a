import Foundation
import ReconcileModel

/// What a pass will do, and the facts to show a person (or CI) before it does it.
public struct Plan: Sendable, Hashable {
    public var actions: [PlanAction]
    /// One entry per App whose containers change, or that cannot be fully placed.
    public var changes: [AppChange]
    /// Apps whose containers already match.
    public var unchanged: [String]
    /// The nodes after this plan's placements, with the holds of replicas that fit nowhere: where DAG
    /// tasks are placed until the next plan (Apps are placed first).
    public var ledger: NodeLedger

    public init(
        actions: [PlanAction], changes: [AppChange], unchanged: [String], ledger: NodeLedger = NodeLedger(nodes: [])
    ) {
        self.actions = actions
        self.changes = changes
        self.unchanged = unchanged
        self.ledger = ledger
    }

    public var isEmpty: Bool { actions.isEmpty && changes.allSatisfy { $0.unplaceable.isEmpty } }

    public var starts: [StartContainer] {
        actions.compactMap { if case .start(let start) = $0 { start } else { nil } }
    }

    public var stops: [StopContainer] {
        actions.compactMap { if case .stop(let stop) = $0 { stop } else { nil } }
    }
}

public enum PlanAction: Sendable, Hashable {
    case start(StartContainer)
    case stop(StopContainer)
    /// The App's new revision missed its progress deadline: record it as failed (so it is not rolled
    /// out again until a new commit), stop its containers, keep the old ones, and alert.
    case rollback(app: String, failedHash: String)
}

public struct StartContainer: Sendable, Hashable {
    public var app: String
    public var slot: Int
    public var specHash: String
    public var node: String
    /// Deterministic: `<app>-<slot>-<hash prefix>`, so a crash between "planned" and "done" is resolved
    /// by finding the container, never by starting it twice.
    public var name: String
    public var resources: Resources
    /// Crash restarts of this slot so far (0 for a new or replacing replica).
    public var restarts: Int = 0
    /// Why this node: its score and every other node's reason (for `reconcile explain`).
    public var placement: NodeLedger.Placement?

    public init(
        app: String, slot: Int, specHash: String, node: String, name: String, resources: Resources,
        restarts: Int = 0, placement: NodeLedger.Placement? = nil
    ) {
        self.app = app
        self.slot = slot
        self.specHash = specHash
        self.node = node
        self.name = name
        self.resources = resources
        self.restarts = restarts
        self.placement = placement
    }
}

public struct StopContainer: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable {
        case scaledDown = "scaled down"
        case replaced = "replaced by the new revision"
        case removedFromGit = "app removed from git"
        case crashed = "exited; restarting"
        case duplicate = "duplicate replica"
        case rolledBack = "revision rolled back"
        case drained = "moved off a draining node"
    }

    public var app: String
    public var containerID: String
    public var node: String
    public var reason: Reason
    public var grace: Timespan
}

public struct AppChange: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case added, removed, updated, scaled, repaired, rolledBack, waiting
        /// Replicas moving off a draining node (same revision).
        case moved
    }

    public var app: String
    public var kind: Kind
    /// The human line without its leading marker, e.g. `app web: 3 replicas -> node-a, node-b`.
    public var summary: String
    public var unplaceable: [Unplaceable]

    public init(app: String, kind: Kind, summary: String, unplaceable: [Unplaceable] = []) {
        self.app = app
        self.kind = kind
        self.summary = summary
        self.unplaceable = unplaceable
    }
}

/// A replica that fits on no node, and why.
public struct Unplaceable: Error, Sendable, Hashable, CustomStringConvertible {
    public var app: String
    public var reason: String
    /// Each node and why it cannot take the replica.
    public var rejected: [NodeLedger.Rejection]

    public init(app: String, reason: String, rejected: [NodeLedger.Rejection] = []) {
        self.app = app
        self.reason = reason
        self.rejected = rejected
    }

    public var description: String { reason }
}

public struct PlannerOptions: Sendable, Hashable {
    /// How long a node may be unreachable before its replicas are started elsewhere.
    public var nodeLostAfter: Timespan
    /// Crash-loop backoff: the second restart of a slot waits `restartBackoff`, each later one twice
    /// as long as the one before, up to `maxRestartBackoff` (the first restart is immediate).
    public var restartBackoff: Timespan
    public var maxRestartBackoff: Timespan
    /// A replica that ran this long before exiting starts a fresh backoff sequence.
    public var restartBackoffReset: Timespan

    public init(
        nodeLostAfter: Timespan = .minutes(1), restartBackoff: Timespan = .seconds(10),
        maxRestartBackoff: Timespan = .minutes(5), restartBackoffReset: Timespan = .minutes(10)
    ) {
        self.nodeLostAfter = nodeLostAfter
        self.restartBackoff = restartBackoff
        self.maxRestartBackoff = maxRestartBackoff
        self.restartBackoffReset = restartBackoffReset
    }

    /// How long after its exit a slot that has been restarted `restarts` times is restarted again.
    public func backoff(restarts: Int) -> TimeInterval {
        guard restarts > 0 else { return 0 }
        let doubled = restartBackoff.seconds * pow(2, Double(min(restarts - 1, 30)))
        return min(doubled, maxRestartBackoff.seconds)
    }
}
