import Foundation
import ReconcileAPI
import ReconcileModel

/// The DAG page (graph of the selected run and the grid of recent runs) and the run page.
extension WebPages {
    static let legend = [
        "succeeded", "failed", "upstreamFailed", "running", "retrying", "queued", "waiting", "skipped", "cancelled",
        "none",
    ]

    /// The DAG's page with the latest `runs` runs in the grid and `selected` (default the latest) in
    /// the graph; nil when the commit in force has no such DAG.
    public func dag(
        _ name: String, selected: String?, runs runCount: Int, snapshot: WebSnapshot?, chrome: Chrome, now: Date
    ) throws -> String? {
        guard let snapshot, let spec = snapshot.state.dags.first(where: { $0.name == name }) else { return nil }
        let runs = try queries.runs(dag: name, limit: runCount)
        var states: [String: [String: String]] = [:]
        let attempts = try queries.attempts(dag: name, runIDs: runs.map(\.run))
        for run in runs {
            states[run.run] = TaskStates.of(dag: spec, runState: run.state, attempts: attempts[run.run] ?? [], now: now)
        }
        let shown = runs.first { $0.run == selected } ?? runs.first
        let view = try queries.dags(DesiredState(dags: [spec]), now: now).first
        var chrome = chrome
        if runs.contains(where: { $0.state == "running" }) { chrome.refresh = 5 }
        let columns = runs.reversed().map { GridColumn(dag: name, run: $0.run, state: $0.state) }
        let rows = spec.tasks.map { task in
            GridRow(
                task: task.name,
                cells: runs.reversed().map { run in
                    let state = states[run.run]?[task.name] ?? "none"
                    return GridCell(
                        state: state, href: "/dags/\(Self.path(name))/runs/\(Self.path(run.run))#row-\(task.name)",
                        title: "\(task.name) · \(run.run): \(state)")
                })
        }
        let health =
            (view?.paused ?? spec.paused)
            ? "off"
            : shown?.state == "failed" ? "bad" : shown?.state == "running" ? "warn" : shown == nil ? "off" : "ok"
        return render(
            "dag",
            DAGPage(
                chrome: chrome, name: name, health: health,
                schedule: spec.schedule.map { "\($0)" } ?? (spec.after.isEmpty ? "manual" : Queries.scheduleText(spec)),
                timezone: spec.schedule == nil ? "" : spec.timezone, paused: view?.paused ?? spec.paused,
                pausedBy: view?.pausedBy.map { $0 == "git" ? "by git (paused: true)" : "by hand" } ?? "",
                canPause: !(view?.paused ?? spec.paused), canUnpause: view?.pausedBy == "hand",
                params: spec.params.map(Self.field),
                next: view?.next.map(WebFormat.time), deadline: spec.deadline.map { "\($0)" },
                late: try? queries.alerts(now: now).incidents.first {
                    $0.key == "deadline/\(name)" && $0.state == "firing"
                }?
                .summary,
                taskCount: spec.tasks.count, selected: shown?.run,
                selectedState: shown?.state,
                graph: graph(spec, states: shown.flatMap { states[$0.run] } ?? [:], run: shown?.run),
                legend: Self.legend, runCount: runs.count, columns: columns, rows: rows,
                tasks: spec.tasks.map { task in
                    TaskRow(
                        dag: name, run: "", name: task.name, after: task.after.joined(separator: ", "),
                        command: task.sensor.map { "waits until \($0.summary)" }
                            ?? task.image.map { "\($0) " + (task.command ?? []).joined(separator: " ") }
                            ?? (task.command ?? []).joined(separator: " "),
                        retries: task.retries, state: "", tries: 0, pool: task.pool ?? "")
                }))
    }

    /// A run's page: its graph, tasks with rerun buttons, and every attempt with its output; nil
    /// when there is no such run.
    public func run(_ dag: String, _ runID: String, snapshot: WebSnapshot?, chrome: Chrome, now: Date) throws -> String?
    {
        let detail: RunDetailView
        do {
            detail = try queries.run(dag + "/" + runID)
        } catch let failure as Queries.Failure where failure.kind == .notFound {
            return nil
        }
        let spec = snapshot?.state.dags.first { $0.name == dag }
        let states = TaskStates.of(dag: spec, runState: detail.run.state, attempts: detail.attempts, now: now)
        var chrome = chrome
        if detail.run.state == "running" { chrome.refresh = 3 }
        let taskNames = spec?.tasks.map(\.name) ?? Array(Set(detail.attempts.map(\.task))).sorted()
        let waiting = Dictionary(detail.waiting.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
        let tasks = taskNames.map { task in
            TaskRow(
                dag: dag, run: runID, name: task, after: "", command: "", retries: 0, state: states[task] ?? "none",
                tries: detail.attempts.filter { $0.task == task }.map(\.tryNumber).max() ?? 0,
                why: waiting[task].map { "\($0.reason) (since \(WebFormat.time($0.since)))" } ?? "",
                canMark: detail.run.state != "cancelled" && states[task] != "running")
        }
        let attempts = detail.attempts.sorted {
            ($0.startedAt, $0.task, $0.tryNumber) < ($1.startedAt, $1.task, $1.tryNumber)
        }.map { attempt in
            var logs: [LogRow] = []
            var note = ""
            if attempt.logPath != nil {
                do {
                    logs = try queries.logs(
                        dag + "/" + attempt.task, grep: nil, since: nil, run: runID, tryNumber: attempt.tryNumber,
                        limit: 500
                    ).map { LogRow(time: WebFormat.time($0.time), source: "", text: $0.text) }
                    if logs.isEmpty { note = "no output" }
                } catch {
                    note = "\(error)"
                }
            } else {
                note =
                    attempt.finishedAt == nil ? "running: its output is shown when it finishes" : "no output was saved"
            }
            return AttemptRow(
                task: attempt.task, tryNumber: attempt.tryNumber, state: attempt.state,
                exitCode: attempt.exitCode.map(String.init) ?? "",
                node: attempt.marked ? "—" : attempt.node.isEmpty ? "(sensor)" : attempt.node,
                startedAt: WebFormat.time(attempt.startedAt),
                duration: WebFormat.duration(from: attempt.startedAt, to: attempt.finishedAt ?? now),
                cleared: attempt.cleared, open: attempt.state == "failed" && !attempt.cleared, logs: logs,
                logNote: note,
                error: attempt.error ?? (attempt.marked ? "marked by hand" : ""),
                outputs: attempt.outputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: "\n"))
        }
        let run = detail.run
        return render(
            "run",
            RunPage(
                chrome: chrome, dag: dag, run: runID, state: run.state, logicalDate: WebFormat.time(run.logicalDate),
                intervalStart: WebFormat.time(run.dataIntervalStart), intervalEnd: WebFormat.time(run.dataIntervalEnd),
                commit: String(run.commit.prefix(12)), finishedAt: run.finishedAt.map(WebFormat.time),
                failure: run.failure,
                canRerunFailed: run.state != "running" && states.values.contains { $0 == "failed" || $0 == "timedOut" },
                canCancel: run.state == "running" && run.cancelRequestedAt == nil,
                cancelAsked: run.cancelRequestedAt.map(WebFormat.time),
                params: run.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                graph: spec.map { graph($0, states: states, run: runID) }
                    ?? GraphModel(width: 0, height: 0, nodes: [], edges: []),
                legend: Self.legend, tasks: tasks, attempts: attempts))
    }

    /// The trigger form's field of a param: a choice for enums and bools, else a text box holding the default.
    static func field(_ param: DAGParam) -> ParamField {
        let choices: [String] =
            switch param.type {
            case .enumeration(let values): values
            case .bool: ["true", "false"]
            case .string, .int: []
            }
        return ParamField(
            name: param.name, type: param.type.name, value: param.defaultValue ?? "",
            description: param.description ?? (param.defaultValue == nil ? "required" : ""),
            options: choices.map { ParamOption(value: $0, selected: $0 == param.defaultValue) },
            hasOptions: !choices.isEmpty, isNumber: param.type == .int)
    }

    func graph(_ spec: DAGSpec, states: [String: String], run: String?) -> GraphModel {
        let layout = DAGGraph(tasks: spec.tasks, states: states)
        return GraphModel(
            width: layout.width, height: layout.height,
            nodes: layout.nodes.map { node in
                GraphModel.Node(
                    name: node.name, state: node.state,
                    href: run.map { "/dags/\(Self.path(spec.name))/runs/\(Self.path($0))#row-\(node.name)" }
                        ?? "/dags/\(Self.path(spec.name))",
                    x: node.x, y: node.y, width: node.width, height: node.height, textX: node.textX, textY: node.textY)
            }, edges: layout.edges)
    }

    /// A path segment (run IDs hold ':'; anything outside a path's characters is percent-encoded).
    static func path(_ segment: String) -> String {
        segment.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
            ?? segment
    }
}

/// Times and durations as the pages print them (UTC, to the second).
public enum WebFormat {
    public static func time(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    public static func duration(from start: Date, to end: Date) -> String {
        let total = max(0, end.timeIntervalSince(start))
        if total < 10 { return String(format: "%.1fs", total) }
        let seconds = Int(total)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        return "\(seconds / 3600)h \(seconds % 3600 / 60)m"
    }
}
