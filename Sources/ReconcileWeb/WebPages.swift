import Foundation
import Mustache
import ReconcileAPI
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// The templates (swift-mustache, HTML-escaped unless a template says `{{{ }}}`, which only the
/// constant style sheet does).
public enum WebTemplates {}

/// What the controller's last pass saw: the commit in force and the observed Apps and nodes.
public struct WebSnapshot: Sendable {
    public var state: DesiredState
    public var commit: String
    public var appliedAt: Date?
    public var apps: [AppView]
    public var nodes: [NodeView]
    public var replicas: [ReplicaView]
    /// What the last pass observed and planned (for the App page's "why" section).
    public var observed: Observed?
    public var plan: Plan?

    public init(
        state: DesiredState, commit: String, appliedAt: Date?, apps: [AppView], nodes: [NodeView],
        replicas: [ReplicaView], observed: Observed? = nil, plan: Plan? = nil
    ) {
        self.observed = observed
        self.plan = plan
        self.state = state
        self.commit = commit
        self.appliedAt = appliedAt
        self.apps = apps
        self.nodes = nodes
        self.replicas = replicas
    }
}

/// Renders the web UI's pages from the snapshot and the store (through the API's queries, so a
/// page shows what `reconcile status`, `runs` and `logs` print).
public struct WebPages: Sendable {
    let library: MustacheLibrary
    public let queries: Queries

    public init(queries: Queries) throws {
        var library = MustacheLibrary()
        let templates: [(String, String)] = [
            ("layout", WebTemplates.layout), ("login", WebTemplates.login), ("overview", WebTemplates.overview),
            ("dagTable", WebTemplates.dagTable), ("nodeTable", WebTemplates.nodeTable),
            ("incidentTable", WebTemplates.incidentTable), ("dags", WebTemplates.dags), ("nodes", WebTemplates.nodes),
            ("alerts", WebTemplates.alerts), ("logs", WebTemplates.logs), ("app", WebTemplates.app),
            ("graph", WebTemplates.graph), ("legend", WebTemplates.legend), ("dag", WebTemplates.dag),
            ("run", WebTemplates.run), ("message", WebTemplates.message),
        ]
        for (name, text) in templates { try library.register(text, named: name) }
        self.library = library
        self.queries = queries
    }

    func render(_ template: String, _ model: Any) -> String {
        library.render(model, withTemplate: template) ?? "template \(template) is missing"
    }

    public static func chrome(
        csrf: String, snapshot: WebSnapshot?, refresh: Int? = nil, notice: Chrome.Notice? = nil
    ) -> Chrome {
        Chrome(
            csrf: csrf, commit: snapshot.map { String($0.commit.prefix(12)) },
            appliedAt: snapshot?.appliedAt.map(WebFormat.time), refresh: refresh, notice: notice)
    }

    public func login(enabled: Bool, error: String?, next: String, plainHTTP: Bool = false) -> String {
        render("login", LoginPage(enabled: enabled, error: error, next: next, plainHTTP: plainHTTP))
    }

    /// A page that only says something (not found, an action refused).
    public func message(_ heading: String, _ text: String, back: String, chrome: Chrome) -> String {
        render("message", MessagePage(chrome: chrome, heading: heading, text: text, back: back))
    }

    // MARK: Overview, nodes, alerts

    public func overview(snapshot: WebSnapshot?, chrome: Chrome, now: Date) throws -> String {
        let apps = (snapshot?.apps ?? []).map(Self.appRow)
        let dags = try dagRows(snapshot: snapshot, now: now)
        let alerts = try queries.alerts(now: now)
        let checks = alerts.checks.map(Self.checkRow)
        let incidents = alerts.incidents.map(Self.incidentRow)
        let nodes = (snapshot?.nodes ?? []).map(Self.nodeRow)
        func card(_ label: String, _ rows: [String]) -> Card {
            let good = rows.filter { $0 == "ok" }.count
            let health = rows.contains("bad") ? "bad" : rows.contains("warn") ? "warn" : rows.isEmpty ? "off" : "ok"
            return Card(label: label, value: "\(good)/\(rows.count)", health: health)
        }
        let cards = [
            card("Apps healthy", apps.map(\.health)), card("DAGs healthy", dags.map(\.health)),
            card("Checks passing", checks.map(\.health)), card("Nodes reachable", nodes.map(\.health)),
            Card(
                label: "Open incidents", value: "\(incidents.count)",
                health: incidents.isEmpty ? "ok" : incidents.allSatisfy { $0.silencedUntil != nil } ? "warn" : "bad"),
        ]
        return render(
            "overview",
            OverviewPage(
                chrome: chrome, cards: cards, apps: apps, dags: dags, checks: checks, nodes: nodes,
                incidents: incidents,
                hasIncidents: !incidents.isEmpty))
    }

    public func dags(snapshot: WebSnapshot?, chrome: Chrome, now: Date) throws -> String {
        render("dags", DAGListPage(chrome: chrome, dags: try dagRows(snapshot: snapshot, now: now)))
    }

    public func nodes(snapshot: WebSnapshot?, chrome: Chrome) -> String {
        let replicas = (snapshot?.replicas ?? []).sorted { ($0.node, $0.app, $0.slot) < ($1.node, $1.app, $1.slot) }
        return render(
            "nodes",
            NodesPage(
                chrome: chrome, nodes: (snapshot?.nodes ?? []).map(Self.nodeRow),
                replicas: replicas.map(Self.replicaRow)))
    }

    public func alerts(chrome: Chrome, now: Date) throws -> String {
        let alerts = try queries.alerts(now: now)
        let incidents = alerts.incidents.map(Self.incidentRow)
        return render(
            "alerts",
            AlertsPage(
                chrome: chrome, incidents: incidents, hasIncidents: !incidents.isEmpty,
                checks: alerts.checks.map(Self.checkRow),
                pending: alerts.pending.map {
                    PendingRow(
                        kind: $0.kind, key: $0.key, notifier: $0.notifier, attempts: $0.attempts,
                        next: $0.givenUp ? "given up" : WebFormat.time($0.nextAttemptAt), lastError: $0.lastError)
                }))
    }

    static let sinceChoices = [("15m", "last 15 minutes"), ("1h", "last hour"), ("24h", "last day"), ("", "all")]

    /// Log search: `name` an App or `DAG/TASK`, `grep` a regular expression, `since` a span.
    public func logs(name: String, grep: String, since: String, chrome: Chrome, now: Date) -> String {
        var page = LogsPage(
            chrome: chrome, name: name, grep: grep,
            sinceOptions: Self.sinceChoices.map { SinceOption(value: $0.0, label: $0.1, selected: $0.0 == since) },
            error: nil, searched: false, count: 0, truncated: false, lines: [])
        guard !name.isEmpty else { return render("logs", page) }
        let limit = 1000
        do {
            var start: Date?
            if !since.isEmpty {
                do {
                    start = now.addingTimeInterval(-(try Timespan(parsing: since)).seconds)
                } catch {
                    throw Queries.Failure(.invalid, "since: \(error.message)")
                }
            }
            let lines = try queries.logs(
                name, grep: grep.isEmpty ? nil : grep, since: start, run: nil, tryNumber: nil, limit: limit)
            page.searched = true
            page.count = lines.count
            page.truncated = lines.count == limit
            page.lines = lines.map { LogRow(time: WebFormat.time($0.time), source: $0.source, text: $0.text) }
        } catch {
            page.error = "\(error)"
        }
        return render("logs", page)
    }

    // MARK: Apps

    /// The App's page; nil when the commit in force has no such App.
    public func app(_ name: String, snapshot: WebSnapshot?, chrome: Chrome) throws -> String? {
        guard let snapshot, let spec = snapshot.state.apps.first(where: { $0.name == name }) else { return nil }
        let view =
            snapshot.apps.first { $0.name == name }
            ?? AppView(name: name, desired: spec.replicas, running: 0, ready: 0, revision: "", rollingOut: false)
        let replicas = snapshot.replicas.filter { $0.app == name }.sorted { ($0.slot, $0.id) < ($1.slot, $1.id) }
        let rollouts = try queries.store.rolloutHistory(app: name, limit: 20).map { event in
            RolloutRow(
                at: WebFormat.time(event.at), kind: event.kind.rawValue,
                from: event.fromHash.map { String($0.prefix(12)) } ?? "—",
                to: String(event.toHash.prefix(12)), commit: String(event.commitID.prefix(12)), detail: event.detail,
                health: event.kind == .rolledBack ? "bad" : event.kind == .started ? "warn" : "ok")
        }
        let logs = (try? queries.logs(name, grep: nil, since: nil, run: nil, tryNumber: nil, limit: 100)) ?? []
        let run = spec.image ?? spec.command.map { $0.joined(separator: " ") }
        var why: [String] = []
        if let observed = snapshot.observed, let plan = snapshot.plan {
            let explained = try queries.explainApp(
                spec, replicas: observed.containers.filter { $0.app == name },
                change: plan.changes.first { $0.app == name }, actions: plan.actions)
            for replica in explained.replicas {
                why.append(
                    "replica \(replica.slot) on \(replica.node): "
                        + (replica.score.map { "chosen with \($0)" } ?? "placed before placements were recorded"))
                why += replica.rejected.map { "    not \($0)" }
            }
            why += explained.plan.map { "plan: \($0)" } + explained.unplaceable
        }
        return render(
            "app",
            AppPage(
                chrome: chrome, name: name, health: Self.appRow(view).health, ready: view.ready, desired: view.desired,
                revision: view.revision, rollingOut: view.rollingOut, run: run,
                resources: "\(spec.resources.cpu) cpu, \(spec.resources.memory) memory per replica",
                replicas: replicas.map(Self.replicaRow), why: why, hasWhy: !why.isEmpty, rollouts: rollouts,
                logs: logs.map { LogRow(time: WebFormat.time($0.time), source: $0.source, text: $0.text) }))
    }

    // MARK: Rows

    func dagRows(snapshot: WebSnapshot?, now: Date) throws -> [DAGRow] {
        try queries.dags(snapshot?.state ?? DesiredState(), now: now).map { view in
            let health: String =
                switch view.lastState {
                case _ where view.paused: "off"
                case "failed": "bad"
                case "running": "warn"
                case "succeeded": "ok"
                default: "off"
                }
            return DAGRow(
                name: view.dag, schedule: view.schedule, paused: view.paused, lastRun: view.lastRun,
                lastState: view.lastState, next: view.next.map(WebFormat.time) ?? "—",
                active: view.active > 0 ? view.active : nil, health: health)
        }
    }

    static func appRow(_ view: AppView) -> AppRow {
        let health =
            view.desired == 0 || (view.ready >= view.desired && !view.rollingOut)
            ? "ok" : view.ready == 0 ? "bad" : "warn"
        let note =
            view.rollingOut
            ? "rolling out" : view.ready < view.desired ? "\(view.desired - view.ready) not ready" : ""
        return AppRow(
            name: view.name, ready: view.ready, desired: view.desired, revision: view.revision, health: health,
            note: note)
    }

    static func nodeRow(_ view: NodeView) -> NodeRow {
        func percent(_ used: Int64, _ total: Int64) -> Int { total > 0 ? Int(min(100, used * 100 / total)) : 0 }
        return NodeRow(
            name: view.name, reachable: view.reachable,
            health: !view.reachable ? "bad" : view.draining != nil ? "warn" : "ok",
            cpuPercent: percent(view.usedCPUMillicores, view.cpuMillicores),
            memoryPercent: percent(view.usedMemoryBytes, view.memoryBytes),
            cpuText:
                "\(CPUQuantity(millicores: view.usedCPUMillicores)) of \(CPUQuantity(millicores: view.cpuMillicores))",
            memoryText: "\(MemoryQuantity(bytes: view.usedMemoryBytes)) of \(MemoryQuantity(bytes: view.memoryBytes))",
            draining: view.draining, canUncordon: view.draining?.hasPrefix("drained") == true)
    }

    static func checkRow(_ view: CheckView) -> CheckRow {
        CheckRow(
            name: view.name, health: view.failing ? "bad" : "ok", message: view.message,
            lastRun: view.lastRun.map(WebFormat.time) ?? "—", lastMatch: view.lastMatch.map(WebFormat.time) ?? "—")
    }

    static func incidentRow(_ view: IncidentView) -> IncidentRow {
        IncidentRow(
            key: view.key, summary: view.summary, openedAt: WebFormat.time(view.openedAt),
            silencedUntil: view.silencedUntil.map { "\(WebFormat.time($0)) by \(view.silencedBy ?? "cli")" },
            health: view.silencedUntil == nil && view.severity == "critical" && view.state == "firing" ? "bad" : "warn",
            severity: view.severity, pending: view.state == "pending")
    }

    static func replicaRow(_ view: ReplicaView) -> ReplicaRow {
        let state: String
        let health: String
        if let code = view.exitCode {
            state = "exited \(code)" + (view.outOfMemory ? " (out of memory)" : "")
            health = "bad"
        } else {
            state = view.ready ? "ready" : "running, not ready"
            health = view.ready ? "ok" : "warn"
        }
        return ReplicaRow(
            node: view.node, slot: view.slot, id: String(view.id.prefix(12)), app: view.app,
            revision: String(view.revision.prefix(12)), state: state, health: health,
            startedAt: view.startedAt.map(WebFormat.time) ?? "—", restarts: view.restarts)
    }
}
