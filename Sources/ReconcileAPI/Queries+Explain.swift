import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// `reconcile explain`: one answer to "why" for a task, an incident or an App, from what the
/// planners decided and the runtime stored (like `kubectl describe` / `nomad alloc status`).
extension Queries {
    /// The task `DAG/RUN/TASK`: its state and the single reason for it.
    public func explainTask(_ name: String) throws -> TaskExplanation {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw Failure(.invalid, "name the task as DAG/RUN/TASK, e.g. etl/manual__2026-11-30T10:00:00Z/load")
        }
        let run = try findRun(parts[0] + "/" + parts[1])
        let task = parts[2]
        let all = try store.attempts(dag: run.dag, runID: run.runID).filter { $0.task == task }
        let views = all.map(Self.view)
        let waiting = try store.waiting(dag: run.dag, runID: run.runID)
        func explanation(_ state: String, _ reason: String, since: Date?, _ details: [String] = []) -> TaskExplanation {
            TaskExplanation(
                dag: run.dag, run: run.runID, task: task, state: state, reason: reason, since: since, details: details,
                attempts: views)
        }
        if let latest = all.last(where: { !$0.cleared }) {
            let tryText =
                latest.marked
                ? "try \(latest.tryNumber), marked by hand"
                : latest.node.isEmpty
                    ? "try \(latest.tryNumber) (a sensor)" : "try \(latest.tryNumber) on node \(latest.node)"
            switch latest.state {
            case .recorded:
                return explanation(
                    "starting", "\(tryText): recorded, its container is being started", since: latest.startedAt)
            case .running:
                return explanation(
                    "running", "\(tryText) since \(Self.time(latest.startedAt))", since: latest.startedAt)
            case .succeeded:
                return explanation(
                    "succeeded",
                    latest.marked
                        ? "\(tryText) succeeded"
                        : latest.node.isEmpty ? "\(tryText): its condition held" : "\(tryText) exited 0",
                    since: latest.finishedAt)
            case .cancelled:
                return explanation(
                    "cancelled", "\(tryText) was stopped: the run was cancelled", since: latest.finishedAt)
            case .failed, .timedOut:
                if let reason = waiting[task], case .retry = reason.reason {
                    return explanation("retrying", reason.reason.description, since: reason.since)
                }
                let cause =
                    latest.marked
                    ? "marked failed" : latest.error?.description ?? latest.exitCode.map { "exit \($0)" } ?? "failed"
                return explanation("failed", "\(tryText): \(cause)", since: latest.finishedAt)
            }
        }
        if let reason = waiting[task] {
            var details: [String] = []
            let state: String
            switch reason.reason {
            case .room(_, let rejected):
                state = "queued"
                details = rejected.map(\.description)
            case .maxActiveRuns, .pool: state = "queued"
            case .upstream: state = "waiting"
            case .retry: state = "retrying"
            }
            return explanation(state, reason.reason.description, since: reason.since, details)
        }
        guard run.state == .running else {
            if run.state == .cancelled {
                return explanation("cancelled", "the run was cancelled before it ran", since: run.finishedAt)
            }
            let why =
                run.state == .failed
                ? "the run failed before it could run (an upstream task failed, or its trigger rule did not fire)"
                : "its trigger rule did not fire (skipped)"
            return explanation("not run", why, since: run.finishedAt)
        }
        return explanation(
            "pending", "the controller has not taken this run up yet (it does on its next pass)", since: run.createdAt)
    }

    /// The incident of `key` (`check/NAME`, `dag/NAME`, `node/NAME`, `rollout/NAME`, `commit`; a bare
    /// name is a check): its condition, settle time, and every notice of that key with its state.
    public func explainIncident(_ name: String, now: Date) throws -> IncidentExplanation {
        guard let key = ConditionKey(parsing: name)?.description else { throw Self.unknownKey(name) }
        let incident = try store.incidents().first { $0.key == key }
        let entries = try store.outbox(limit: 10_000).filter { $0.notice.key == key }
        guard incident != nil || !entries.isEmpty else {
            let open = try store.incidents().map(\.key).sorted()
            throw Failure(
                .notFound,
                "no incident or notice for \(key); "
                    + (open.isEmpty ? "no incident is open" : "open: \(open.joined(separator: ", "))"))
        }
        let notices = entries.sorted {
            ($0.notice.at, $0.notice.idempotencyKey) < ($1.notice.at, $1.notice.idempotencyKey)
        }
        .map { entry in
            let state: String =
                if entry.sentAt != nil { "sent" } else if entry.failedAt != nil {
                    "given up"
                } else if entry.attempts > 0 {
                    "retrying"
                } else { "pending" }
            return IncidentExplanation.NoticeState(
                kind: entry.notice.kind.rawValue, notifier: entry.notice.notifier, createdAt: entry.notice.at,
                state: state, attempts: entry.attempts, sentAt: entry.sentAt,
                nextAttemptAt: entry.sentAt == nil && entry.failedAt == nil ? entry.nextAttemptAt : nil,
                lastError: entry.lastError)
        }
        let silenced = try store.silences()[key].flatMap { $0 > now ? $0 : nil }
        return IncidentExplanation(
            key: key, open: incident != nil, openedAt: incident?.openedAt ?? entries.map(\.notice.openedAt).max(),
            summary: incident?.summary ?? entries.max { $0.notice.at < $1.notice.at }?.notice.summary ?? "",
            settle: incident.map { "\($0.settle)" }, passingSince: incident?.passingSince, flaps: incident?.flaps ?? 0,
            silencedUntil: silenced, notices: notices)
    }

    /// The App's replicas, each with its node and why (as recorded when it was placed), and what the
    /// last plan does for it. `replicas` and `plan` come from the controller's last pass.
    public func explainApp(
        _ app: AppSpec, replicas: [ObservedContainer], change: AppChange?, actions: [PlanAction]
    ) throws -> AppExplanation {
        let placements = try store.placements(app: app.name)
        let hash = SpecHash.of(app)
        let rows = replicas.sorted { ($0.slot, $0.id) < ($1.slot, $1.id) }.map { replica in
            let name = "\(app.name)-\(replica.slot)-\(replica.specHash.prefix(8))"
            let record = placements[name]
            let state: String
            switch replica.status {
            case .running: state = replica.readySince == nil ? "running, not ready" : "ready"
            case .exited(let code, _): state = "exited \(code)"
            }
            return AppExplanation.Replica(
                slot: replica.slot, node: replica.node, container: name,
                revision: String(replica.specHash.prefix(8)) + (replica.specHash == hash ? "" : " (old)"), state: state,
                score: record.map { "\($0.placement.score)" }, placedAt: record?.at,
                rejected: record?.placement.rejected.map(\.description) ?? [])
        }
        var plan: [String] = []
        if let change { plan.append(change.summary) }
        for action in actions {
            switch action {
            case .start(let start) where start.app == app.name:
                var line = "start replica \(start.slot) on \(start.node)"
                if let placement = start.placement { line += ": \(placement.score)" }
                plan.append(line)
            case .stop(let stop) where stop.app == app.name:
                plan.append("stop \(stop.containerID.prefix(12)) on \(stop.node): \(stop.reason.rawValue)")
            case .rollback(let name, let failed) where name == app.name:
                plan.append("roll back: revision \(failed.prefix(8)) is recorded as failed")
            default:
                break
            }
        }
        let unplaceable = (change?.unplaceable ?? []).flatMap { item in
            ["replica fits nowhere: \(item.reason)"] + item.rejected.map { "  \($0)" }
        }
        return AppExplanation(
            app: app.name, desired: app.replicas, replicas: rows, plan: plan, unplaceable: unplaceable)
    }

    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}
