import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileStore
import Synchronization

/// A pass with memory: failed and last good revisions come from the store and go back to it, and
/// every applied pass is recorded. A crash anywhere loses nothing: the next pass plans from
/// scratch with what the engines and the store say.
public struct Reconciler: Sendable {
    public let pass: Pass
    public let store: Store
    /// The last-seen containers per node as stored and decoded: decoded and encoded again only when
    /// they changed (200 replicas' JSON each way on every pass was a tenth of an idle controller).
    private let seen = SeenContainers()

    public init(pass: Pass, store: Store) {
        self.pass = pass
        self.store = store
    }

    public func run(desired: DesiredState, revision: String, dryRun: Bool, now: Date) async throws -> Pass.Result {
        let rollouts = try store.rollouts()
        let unreachable = try store.unreachableNodes()
        let seenData = try store.lastSeenContainers()
        var lastSeen: [String: [ObservedContainer]] = [:]
        for (node, data) in seenData {
            if let cached = seen.cache.withLock({ $0[node] }), cached.data == data {
                lastSeen[node] = cached.containers
            } else if let containers = try? JSONDecoder().decode([ObservedContainer].self, from: data) {
                lastSeen[node] = containers
                seen.cache.withLock { $0[node] = (data, containers) }
            }
        }
        let started = Date()
        let result = await pass.run(
            desired: desired, revision: revision, dryRun: dryRun, now: now, failedRollouts: rollouts.failed,
            previous: rollouts.good, unreachableSince: unreachable, lastSeen: lastSeen)
        guard !dryRun else { return result }
        // What answering nodes run now is what an outage of theirs will assume (written when it changes).
        let byNode = Dictionary(grouping: result.observed.containers, by: \.node)
        for node in result.observed.nodes where node.unreachableSince == nil {
            let replicas = (byNode[node.name] ?? []).filter(\.isRunning).map { replica in
                var replica = replica
                replica.readySince = replica.readySince.map { _ in replica.startedAt ?? now }
                return replica
            }.sorted { $0.id < $1.id }
            if let stored = seenData[node.name], let cached = seen.cache.withLock({ $0[node.name] }),
                cached.data == stored,
                cached.containers == replicas
            {
                continue
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let data = try encoder.encode(replicas)
            if seenData[node.name] != data { try store.setLastSeenContainers(data, node: node.name) }
            seen.cache.withLock { $0[node.name] = (data, replicas) }
        }
        for case .rollback(let app, let hash) in result.plan.actions {
            try store.recordFailedRollout(app: app, hash: hash, at: now)
        }
        // Why each new replica went where it did, for `reconcile explain`.
        try store.recordPlacements(
            result.plan.starts.compactMap { start in
                start.placement.map {
                    PlacementRecord(container: start.name, app: start.app, slot: start.slot, placement: $0, at: now)
                }
            })
        var stillUnreachable: [String: Date] = [:]
        for node in result.observed.nodes {
            if let since = node.unreachableSince { stillUnreachable[node.name] = since }
        }
        if stillUnreachable != unreachable { try store.setUnreachableNodes(stillUnreachable) }
        try recordHistory(result, desired: desired, revision: revision, failed: rollouts.failed, now: now)
        // An App whose replicas all run its current spec is the rollback target of its next rollout.
        let settled = Set(result.plan.unchanged)
        for app in desired.apps where settled.contains(app.name) && rollouts.failed[app.name] != SpecHash.of(app) {
            let hash = SpecHash.of(app)
            if rollouts.good[app.name].map(SpecHash.of) != hash { try store.recordGood(app, hash: hash) }
        }
        try store.record(
            Store.PassRecord(
                startedAt: started, finishedAt: Date(), commitID: revision, actions: result.plan.actions.count,
                summary: PlanText.lines(result.plan).lines.joined(separator: "\n"),
                failures: result.failures.map(\.description).joined(separator: "\n")))
        return result
    }

    /// Rollout history: a rollout starts when a revision's first replica is planned, completes when
    /// all replicas run it, and is rolled back when it misses its deadline.
    private func recordHistory(
        _ result: Pass.Result, desired: DesiredState, revision: String, failed: [String: String], now: Date
    ) throws {
        let settled = Set(result.plan.unchanged)
        var rolledBack: [String: String] = [:]
        for case .rollback(let app, let hash) in result.plan.actions { rolledBack[app] = hash }
        let changes = Dictionary(result.plan.changes.map { ($0.app, $0) }, uniquingKeysWith: { a, _ in a })
        let latest = try store.latestRolloutEvents()
        for app in desired.apps {
            let hash = SpecHash.of(app)
            let last = latest[app.name]
            if let failedHash = rolledBack[app.name] {
                try store.recordRolloutEvent(
                    RolloutEvent(
                        app: app.name, at: now, kind: .rolledBack, fromHash: failedHash,
                        toHash: last?.fromHash ?? "", commitID: revision, detail: changes[app.name]?.summary ?? ""))
                continue
            }
            guard failed[app.name] != hash else { continue }
            let startedHere = last?.kind == .started && last?.toHash == hash
            if settled.contains(app.name) {
                if startedHere {
                    try store.recordRolloutEvent(
                        RolloutEvent(
                            app: app.name, at: now, kind: .completed, fromHash: last?.fromHash, toHash: hash,
                            commitID: revision, detail: "\(app.replicas) replicas ready"))
                }
            } else if let change = changes[app.name], change.kind == .added || change.kind == .updated, !startedHere,
                last?.toHash != hash
            {
                let from = result.observed.containers.first { $0.app == app.name && $0.specHash != hash }?.specHash
                try store.recordRolloutEvent(
                    RolloutEvent(
                        app: app.name, at: now, kind: .started, fromHash: from, toHash: hash, commitID: revision,
                        detail: change.summary))
            }
        }
    }
}

/// The last-seen containers per node, as stored and as decoded.
private final class SeenContainers: Sendable {
    let cache = Mutex<[String: (data: Data, containers: [ObservedContainer])]>([:])
}
