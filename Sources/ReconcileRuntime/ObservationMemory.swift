import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import Synchronization

/// What a pass keeps for the next one, so that a pass over a cluster where little changed costs
/// little more than what changed:
///
/// - **Each node's reading.** The replicas read from a node's listing (each container's full state
///   and ownership labels, in (App, slot, id) order) are kept with that listing. When the next
///   listing is the very same array (the driver answered from its own memory: a Docker engine's
///   listing is kept until its event stream hears a change), the node is not read again: no
///   inspect, no label parsing, no sort. The kept listing holds its storage alive, so the same
///   storage means the same contents; a listing read afresh is a new array, however equal.
/// - **The whole observation**, when the desired state is the same, every node answers as before
///   (the same listing, info and networks; a silent node with the same outage and last-seen
///   replicas), and the health monitor gives every probed replica the readiness it had: the pass
///   then costs the nodes' listings and those probes, however many replicas run. One that read
///   the clock (a node silent since now, a running replica without a start time) is not kept.
/// - **A settled plan.** A plan with nothing to do, made when every replica ran ready past its
///   App's `minReadyTime` on reachable, schedulable nodes, is the plan of every later pass with
///   the same inputs (desired state, observation, rollout records, options): nothing the planner
///   reads of the clock can change it. Such a pass reuses it instead of planning every App.
/// - **Each App's spec hash**, while its spec is the same.
///
/// Readiness is read at every pass (probes come due with time).
public final class ObservationMemory: Sendable {
    /// One replica as read from a node's listing: the container's full state and the replica its
    /// labels describe (readiness and resources not yet set).
    struct Read: Sendable {
        var info: ContainerInfo
        var replica: ObservedContainer
    }

    private struct NodeReading: Sendable {
        var listing: [ContainerInfo]
        var read: [Read]
    }

    struct PlanInputs: Sendable, Equatable {
        var desired: DesiredState
        var observed: Observed
        var failedRollouts: [String: String]
        var previous: [String: AppSpec]
        var options: PlannerOptions
    }

    private struct SettledPlan: Sendable {
        var inputs: PlanInputs
        var plan: Plan
        var at: Date
    }

    /// A replica whose readiness the health monitor answers (of its App's current revision, with a
    /// probe), as the kept observation found it.
    struct Probed: Sendable {
        var node: String
        var app: AppSpec
        var info: ContainerInfo
        var readySince: Date?
    }

    /// An observation and all it was made from but the clock (one that read the clock, for a node's
    /// outage or a replica's readiness, is not kept).
    struct KeptObservation: Sendable {
        var desired: DesiredState
        /// The nodes that answered, as the snapshot had them (the listing compared by storage).
        var answered: [String: ClusterSnapshot.Node]
        /// The nodes that did not answer, with their outage's start and the replicas last seen there.
        var silent: [String: (since: Date, lastSeen: [ObservedContainer]?)]
        var probed: [Probed]
        var observation: Observation
    }

    private let specHashes = Mutex<[String: (spec: AppSpec, hash: String)]>([:])
    private let readings = Mutex<[String: NodeReading]>([:])
    private let kept = Mutex<KeptObservation?>(nil)
    private let settled = Mutex<SettledPlan?>(nil)
    private let counts = Mutex<(nodesReused: Int, observationsReused: Int, plansReused: Int)>((0, 0, 0))

    public init() {}

    /// Node readings taken from memory, whole observations reused, and plans reused, so far (for
    /// tests and benchmarks).
    public var nodesReused: Int { counts.withLock { $0.nodesReused } }
    public var observationsReused: Int { counts.withLock { $0.observationsReused } }
    public var plansReused: Int { counts.withLock { $0.plansReused } }

    /// The last observation, to be checked against this pass's inputs (`Observer`).
    var keptObservation: KeptObservation? { kept.withLock { $0 } }

    func keep(_ observation: KeptObservation?) { kept.withLock { $0 = observation } }

    func observationReused() { counts.withLock { $0.observationsReused += 1 } }

    /// Each App's `SpecHash` by name: kept for an App whose spec is as before (comparing a spec is
    /// cheaper than hashing it, which builds its text), computed for the others.
    func hashes(of apps: [AppSpec]) -> [String: String] {
        specHashes.withLock { kept in
            var hashes: [String: String] = [:]
            hashes.reserveCapacity(apps.count)
            var next: [String: (spec: AppSpec, hash: String)] = [:]
            next.reserveCapacity(apps.count)
            for app in apps where hashes[app.name] == nil {
                let hash = kept[app.name].flatMap { $0.spec == app ? $0.hash : nil } ?? SpecHash.of(app)
                hashes[app.name] = hash
                next[app.name] = (app, hash)
            }
            kept = next
            return hashes
        }
    }

    /// The node's replicas as read from `listing`, when `listing` is the one they were read from.
    func reading(of node: String, listing: [ContainerInfo]) -> [Read]? {
        guard let kept = readings.withLock({ $0[node] }), Self.sameStorage(kept.listing, listing) else { return nil }
        counts.withLock { $0.nodesReused += 1 }
        return kept.read
    }

    func keep(_ read: [Read], of node: String, listing: [ContainerInfo]) {
        readings.withLock { $0[node] = NodeReading(listing: listing, read: read) }
    }

    /// The settled plan made from these very inputs, at or before `now`.
    func settledPlan(for inputs: PlanInputs, now: Date) -> Plan? {
        guard let kept = settled.withLock({ $0 }), kept.at <= now, kept.inputs == inputs else { return nil }
        counts.withLock { $0.plansReused += 1 }
        return kept.plan
    }

    /// Keeps the plan when it is settled (see the type's note); forgets the last one otherwise.
    func planned(_ plan: Plan, from inputs: PlanInputs, hashes: [String: String], now: Date) {
        let keep = Self.isSettled(plan, inputs: inputs, hashes: hashes, now: now)
        settled.withLock { $0 = keep ? SettledPlan(inputs: inputs, plan: plan, at: now) : nil }
    }

    /// Nothing to do, and nothing the planner reads of the clock can change that: every node answers
    /// and takes work (no loss or drain deadline to come), and every replica runs, of the App's
    /// current revision (not one that failed), ready for at least its `minReadyTime` (no crash
    /// backoff, rollout deadline or readiness still to come).
    static func isSettled(_ plan: Plan, inputs: PlanInputs, hashes: [String: String], now: Date) -> Bool {
        guard plan.actions.isEmpty, plan.changes.isEmpty,
            inputs.observed.nodes.allSatisfy({ $0.unreachableSince == nil && $0.schedulable })
        else { return false }
        let apps = Dictionary(inputs.desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return inputs.observed.containers.allSatisfy { replica in
            guard replica.isRunning, let app = apps[replica.app], replica.specHash == hashes[replica.app],
                inputs.failedRollouts[replica.app] != replica.specHash, let ready = replica.readySince
            else { return false }
            return now.timeIntervalSince(ready) >= app.update.minReadyTime.seconds
        }
    }

    /// True when both arrays are one storage (compared by address; `kept` holds its storage alive).
    static func sameStorage(_ kept: [ContainerInfo], _ new: [ContainerInfo]) -> Bool {
        guard kept.count == new.count else { return false }
        guard !kept.isEmpty else { return true }
        return kept.withUnsafeBufferPointer { a in new.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}
