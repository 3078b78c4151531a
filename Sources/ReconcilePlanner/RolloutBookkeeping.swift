import Foundation
import ReconcileModel

/// What a pass's plan means for the rollout records (pure), for the runtime to persist: revisions
/// to mark failed (the plan rolled them back), specs that became an App's last good one (all its
/// replicas run it: the target of its next rollback), and rollout history events — a rollout starts
/// when a revision's first replica is planned, completes when all replicas run it, and is rolled
/// back when it misses its progress deadline.
public struct RolloutRecords: Sendable, Hashable {
    /// App -> the spec hash that failed its rollout.
    public var failed: [String: String] = [:]
    /// Specs that are now their App's last good one.
    public var good: [AppSpec] = []
    public var events: [RolloutEvent] = []

    public var isEmpty: Bool { failed.isEmpty && good.isEmpty && events.isEmpty }
}

public enum RolloutBookkeeping {
    /// - Parameters:
    ///   - failed, good: the records so far (App -> failed hash, App -> last good spec).
    ///   - latest: each App's newest history event.
    public static func records(
        plan: Plan, desired: DesiredState, observed: Observed, failed: [String: String], good: [String: AppSpec],
        latest: [String: RolloutEvent], revision: String, now: Date
    ) -> RolloutRecords {
        var records = RolloutRecords()
        for case .rollback(let app, let hash) in plan.actions { records.failed[app] = hash }
        let settled = Set(plan.unchanged)
        let changes = Dictionary(plan.changes.map { ($0.app, $0) }, uniquingKeysWith: { a, _ in a })
        for app in desired.apps {
            let hash = SpecHash.of(app)
            let last = latest[app.name]
            if let failedHash = records.failed[app.name] {
                records.events.append(
                    RolloutEvent(
                        app: app.name, at: now, kind: .rolledBack, fromHash: failedHash, toHash: last?.fromHash ?? "",
                        commitID: revision, detail: changes[app.name]?.summary ?? ""))
                continue
            }
            guard failed[app.name] != hash else { continue }
            let startedHere = last?.kind == .started && last?.toHash == hash
            if settled.contains(app.name) {
                if startedHere {
                    records.events.append(
                        RolloutEvent(
                            app: app.name, at: now, kind: .completed, fromHash: last?.fromHash, toHash: hash,
                            commitID: revision, detail: "\(app.replicas) replicas ready"))
                }
                // An App whose replicas all run its current spec: the rollback target of its next rollout.
                if good[app.name].map(SpecHash.of) != hash { records.good.append(app) }
            } else if let change = changes[app.name], change.kind == .added || change.kind == .updated, !startedHere,
                last?.toHash != hash
            {
                let from = observed.containers.first { $0.app == app.name && $0.specHash != hash }?.specHash
                records.events.append(
                    RolloutEvent(
                        app: app.name, at: now, kind: .started, fromHash: from, toHash: hash, commitID: revision,
                        detail: change.summary))
            }
        }
        return records
    }
}
