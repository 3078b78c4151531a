import Foundation
import ReconcileAPI

/// The text of the views: the same whether they came from the state directory or a controller.
enum ReportText {

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = APICoding.encoder
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func runs(_ runs: [RunView]) -> [String] {
        runs.map { "\($0.dag)  \($0.run)  \($0.state)  logical \(RunText.time($0.logicalDate))" }
    }

    static func run(_ detail: RunDetailView) -> [String] {
        let run = detail.run
        var lines = [
            "\(run.dag) \(run.run): \(run.state)",
            "  logical date \(RunText.time(run.logicalDate)), data interval \(RunText.time(run.dataIntervalStart)) .. "
                + "\(RunText.time(run.dataIntervalEnd)), commit \(run.commit.prefix(12))",
        ]
        if let failure = run.failure { lines.append("  \(failure)") }
        if let cancel = run.cancelRequestedAt { lines.append("  cancel asked at \(RunText.time(cancel))") }
        if !run.params.isEmpty {
            lines.append(
                "  params: "
                    + run.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        for (task, tries) in Dictionary(grouping: detail.attempts, by: \.task).sorted(by: { $0.key < $1.key }) {
            lines.append("  \(task)")
            for attempt in tries.sorted(by: { $0.tryNumber < $1.tryNumber }) {
                let code = attempt.exitCode.map { " exit \($0)" } ?? ""
                let place =
                    attempt.marked
                    ? "marked by hand" : attempt.node.isEmpty ? "sensor" : "on \(attempt.node) (\(attempt.container))"
                lines.append(
                    "    try \(attempt.tryNumber): \(attempt.state)\(code) \(place)"
                        + (attempt.cleared ? " [cleared by rerun]" : ""))
                if let error = attempt.error { lines.append("      error: \(error)") }
                for (key, value) in attempt.outputs.sorted(by: { $0.key < $1.key }) {
                    lines.append("      output \(key)=\(value)")
                }
                if let path = attempt.logPath { lines.append("      log \(path)") }
            }
        }
        if !detail.waiting.isEmpty { lines.append("  waiting:") }
        for waiting in detail.waiting {
            lines.append("    \(waiting.task): \(waiting.reason) (since \(RunText.time(waiting.since)))")
        }
        return lines
    }

    static func explain(_ task: TaskExplanation) -> [String] {
        var lines = [
            "task \(task.task) of \(task.dag) \(task.run): \(task.state)",
            "  \(task.reason)" + (task.since.map { " (since \(RunText.time($0)))" } ?? ""),
        ]
        lines += task.details.map { "    \($0)" }
        if !task.attempts.isEmpty { lines.append("  attempts:") }
        for attempt in task.attempts {
            let code = attempt.exitCode.map { " exit \($0)" } ?? ""
            let error = attempt.error.map { ": \($0)" } ?? ""
            lines.append(
                "    try \(attempt.tryNumber): \(attempt.state)\(code) on \(attempt.node)\(error)"
                    + (attempt.cleared ? " [cleared by rerun]" : ""))
        }
        return lines
    }

    static func explain(_ incident: IncidentExplanation) -> [String] {
        var lines = ["incident \(incident.key): \(incident.open ? "open" : "resolved")"]
        if let opened = incident.openedAt { lines.append("  opened \(RunText.time(opened))") }
        lines.append("  \(incident.summary.replacingOccurrences(of: "\n", with: "\n  "))")
        if let settle = incident.settle {
            let passing = incident.passingSince.map { "; passing since \(RunText.time($0))" } ?? "; failing"
            lines.append("  settle time \(settle): resolves once it has passed that long\(passing)")
        }
        if incident.flaps > 0 { lines.append("  failed again \(incident.flaps) time(s) while settling (one incident)") }
        if let until = incident.silencedUntil { lines.append("  silenced until \(RunText.time(until))") }
        lines.append(incident.notices.isEmpty ? "  no notice" : "  notices:")
        for notice in incident.notices {
            var line = "    \(notice.kind) to \(notice.notifier) at \(RunText.time(notice.createdAt)): \(notice.state)"
            if let sent = notice.sentAt { line += " \(RunText.time(sent))" }
            if notice.attempts > 0 { line += " after \(notice.attempts) attempt\(notice.attempts == 1 ? "" : "s")" }
            if let next = notice.nextAttemptAt, notice.state != "sent" { line += "; next try \(RunText.time(next))" }
            if let error = notice.lastError { line += "; last error: \(error)" }
            lines.append(line)
        }
        return lines
    }

    static func explain(_ app: AppExplanation) -> [String] {
        var lines = ["app \(app.app): \(app.replicas.count) of \(app.desired) replicas"]
        for replica in app.replicas {
            lines.append("  replica \(replica.slot) on \(replica.node): \(replica.state), revision \(replica.revision)")
            if let score = replica.score {
                let when = replica.placedAt.map { " (placed \(RunText.time($0)))" } ?? ""
                lines.append("    chosen: \(score)\(when)")
            } else {
                lines.append("    placed before this controller recorded placements")
            }
            lines += replica.rejected.map { "    not \($0)" }
        }
        lines.append(app.plan.isEmpty ? "plan: nothing to do (in sync)" : "plan:")
        lines += app.plan.map { "  \($0)" }
        lines += app.unplaceable.map { "  \($0)" }
        return lines
    }

    static func dags(_ dags: [DAGView], commit: String?) -> [String] {
        guard !dags.isEmpty else { return ["no DAGs\(commit.map { " at commit \($0.prefix(12))" } ?? "")"] }
        let table =
            [["DAG", "SCHEDULE", "NEXT RUN", "LAST RUN", "STATE", "ACTIVE"]]
            + dags.map {
                [
                    $0.dag, $0.schedule,
                    $0.paused
                        ? "paused" + ($0.pausedBy.map { " (\($0 == "git" ? "by git" : "by hand"))" } ?? "")
                        : $0.next.map(RunText.time) ?? "-", $0.lastRun ?? "-",
                    $0.lastState ?? "-", String($0.active),
                ]
            }
        return Columns.format(table)
    }

    /// `[critical]`, `[pending, warning]`: an incident's state and severity.
    static func label(_ incident: IncidentView) -> String {
        "[\(incident.state == "pending" ? "pending, " : "")\(incident.severity)]"
    }

    static func alerts(_ view: AlertsView) -> [String] {
        var lines = [view.incidents.isEmpty ? "no open incident" : "open incidents:"]
        for incident in view.incidents {
            let silenced =
                incident.silencedUntil.map {
                    " (silenced by \(incident.silencedBy ?? "cli") until \(RunText.time($0)))"
                } ?? ""
            lines.append(
                "  \(incident.key) \(label(incident)) since \(RunText.time(incident.openedAt))\(silenced)")
            lines.append("    \(incident.summary.replacingOccurrences(of: "\n", with: "\n    "))")
        }
        if !view.checks.isEmpty { lines.append("checks:") }
        for check in view.checks {
            let run = check.lastRun.map { " (\(RunText.time($0)))" } ?? ""
            lines.append("  \(check.name): \(check.failing ? "failing" : "passing")\(run): \(check.message)")
        }
        if !view.pending.isEmpty { lines.append("notifications not delivered:") }
        for entry in view.pending {
            let state = entry.givenUp ? "given up" : "retrying at \(RunText.time(entry.nextAttemptAt))"
            lines.append(
                "  \(entry.kind) \(entry.key) to \(entry.notifier): \(state) after \(entry.attempts) "
                    + "attempt\(entry.attempts == 1 ? "" : "s")\(entry.lastError.map { ": \($0)" } ?? "")")
        }
        return lines
    }

    static func log(_ line: LogLineView, timestamps: Bool, labelled: Bool) -> String {
        var prefix = ""
        if timestamps {
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            prefix = "\(format.string(from: line.time)) \(line.stream) "
        }
        if labelled { prefix += "[\(line.source)] " }
        return prefix + line.text
    }

    /// One screen: apps, nodes, DAGs, checks and incidents, each line marked ok / not ok.
    static func status(_ view: StatusView, color: Bool) -> [String] {
        func mark(_ ok: Bool) -> String {
            let text = ok ? "ok " : "!! "
            guard color else { return text }
            return (ok ? "\u{1B}[32m" : "\u{1B}[31;1m") + text + "\u{1B}[0m"
        }
        var lines = [
            "reconcile status\(view.commit.map { " (commit \($0.prefix(12)))" } ?? " (no valid commit read yet)")"
        ]
        lines.append("apps:")
        if view.apps.isEmpty { lines.append("  none") }
        for app in view.apps {
            let ok = app.ready >= app.desired && !app.rollingOut
            lines.append(
                "  \(mark(ok))\(app.name): \(app.ready)/\(app.desired) ready\(app.rollingOut ? ", rolling out" : "")"
                    + " (revision \(app.revision))")
        }
        lines.append("nodes:")
        for node in view.nodes {
            let cpu = "\(node.usedCPUMillicores)m/\(node.cpuMillicores)m cpu"
            let memory = "\(node.usedMemoryBytes >> 20)Mi/\(node.memoryBytes >> 20)Mi memory"
            lines.append(
                "  \(mark(node.reachable))\(node.name): \(node.reachable ? "\(cpu), \(memory)" : "unreachable")"
                    + (node.draining.map { "; \($0)" } ?? ""))
        }
        lines.append("dags:")
        if view.dags.isEmpty { lines.append("  none") }
        for dag in view.dags {
            let last = dag.lastRun.map { "last \($0) \(dag.lastState ?? "")" } ?? "no run yet"
            let next =
                dag.paused
                ? (dag.pausedBy == "hand" ? "paused by hand" : "paused")
                : dag.next.map { "next \(RunText.time($0))" } ?? "manual"
            lines.append("  \(mark(dag.lastState != "failed"))\(dag.dag): \(last); \(next); \(dag.active) active")
        }
        lines.append("checks:")
        if view.alerts.checks.isEmpty { lines.append("  none") }
        for check in view.alerts.checks {
            lines.append("  \(mark(!check.failing))\(check.name): \(check.message)")
        }
        lines.append(view.alerts.incidents.isEmpty ? "incidents: none open" : "incidents:")
        for incident in view.alerts.incidents {
            let first = incident.summary.split(separator: "\n").first.map(String.init) ?? incident.summary
            lines.append(
                "  \(mark(false))\(incident.key) \(label(incident)) "
                    + "since \(RunText.time(incident.openedAt)): \(first)")
        }
        let undelivered = view.alerts.pending.count
        if undelivered > 0 { lines.append("  \(mark(false))\(undelivered) notification(s) not delivered yet") }
        return lines
    }
}
