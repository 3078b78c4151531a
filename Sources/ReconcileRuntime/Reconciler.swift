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

    public func run(
        desired: DesiredState, revision: String, dryRun: Bool, now: Date, snapshot: ClusterSnapshot? = nil
    ) async throws -> Pass.Result {
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
            previous: rollouts.good, unreachableSince: unreachable, lastSeen: lastSeen, snapshot: snapshot)
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
        // What the plan means for the rollout records, decided purely; persisted here.
        let latest = try store.latestRolloutEvents()
        let records = RolloutBookkeeping.records(
            plan: result.plan, desired: desired, observed: result.observed, failed: rollouts.failed,
            good: rollouts.good, latest: latest, revision: revision, now: now)
        for (app, hash) in records.failed.sorted(by: { $0.key < $1.key }) {
            try store.recordFailedRollout(app: app, hash: hash, at: now)
        }
        for event in records.events {
            // An App's deploy notices go into the outbox with the event that causes them.
            try store.recordRolloutEvent(
                event, notices: DeployNotices.notices(for: [event], desired: desired, latest: latest))
        }
        for app in records.good { try store.recordGood(app, hash: SpecHash.of(app)) }
        // Placements of replicas that are gone are forgotten when the replicas seen changed.
        let names = Set(result.observed.containers.map { "\($0.app)-\($0.slot)-\($0.specHash.prefix(8))" })
        if seen.placementNames.withLock({ last in
            defer { last = names }
            return last != names
        }) {
            try store.keepPlacements(only: names)
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
        try store.record(
            Store.PassRecord(
                startedAt: started, finishedAt: Date(), commitID: revision, actions: result.plan.actions.count,
                summary: PlanText.lines(result.plan).lines.joined(separator: "\n"),
                failures: result.failures.map(\.description).joined(separator: "\n")))
        return result
    }
}

/// The last-seen containers per node, as stored and as decoded.
private final class SeenContainers: Sendable {
    let cache = Mutex<[String: (data: Data, containers: [ObservedContainer])]>([:])
    /// The replica names seen by the last pass (their placements are kept).
    let placementNames = Mutex<Set<String>?>(nil)
}
