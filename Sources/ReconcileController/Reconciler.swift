import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// A pass with memory: failed and last good revisions come from the store and go back to it, and
/// every applied pass is recorded. A crash anywhere loses nothing: the next pass plans from
/// scratch with what the engines and the store say.
public struct Reconciler: Sendable {
    public let pass: Pass
    public let store: Store

    public init(pass: Pass, store: Store) {
        self.pass = pass
        self.store = store
    }

    public func run(desired: DesiredState, revision: String, dryRun: Bool, now: Date) async throws -> Pass.Result {
        let rollouts = try store.rollouts()
        let started = Date()
        let result = await pass.run(
            desired: desired, revision: revision, dryRun: dryRun, now: now, failedRollouts: rollouts.failed,
            previous: rollouts.good)
        guard !dryRun else { return result }
        for case .rollback(let app, let hash) in result.plan.actions {
            try store.recordFailedRollout(app: app, hash: hash, at: now)
        }
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
}
