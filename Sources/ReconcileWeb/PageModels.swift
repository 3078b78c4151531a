import ReconcileBuildInfo

/// What each template renders: plain values, already formatted (the templates only place and
/// escape them).
public struct Chrome: Sendable {
    public var csrf: String
    public var commit: String?
    public var appliedAt: String?
    public var refresh: Int?
    public var notice: Notice?
    public var style = WebTemplates.style
    /// `0.2.0 (commit 1a2b3c4d5e6f)`, in the footer.
    public var version = ReconcileVersion.display

    public struct Notice: Sendable {
        public var kind: String
        public var text: String

        public init(kind: String, text: String) {
            self.kind = kind
            self.text = text
        }
    }

    public init(csrf: String, commit: String?, appliedAt: String?, refresh: Int? = nil, notice: Notice? = nil) {
        self.csrf = csrf
        self.commit = commit
        self.appliedAt = appliedAt
        self.refresh = refresh
        self.notice = notice
    }
}

struct Card: Sendable {
    var label: String
    var value: String
    var health: String
}

struct AppRow: Sendable {
    var name: String
    var ready: Int
    var desired: Int
    var revision: String
    var health: String
    var note: String
}

struct NodeRow: Sendable {
    var name: String
    var reachable: Bool
    var health: String
    var cpuPercent: Int
    var memoryPercent: Int
    var cpuText: String
    var memoryText: String
    /// Why the node takes no new work; nil while schedulable.
    var draining: String?
    /// Drained by hand (not removed from git, not `schedulable: false` in git): it can be uncordoned.
    var canUncordon: Bool
}

struct DAGRow: Sendable {
    var name: String
    var schedule: String
    var paused: Bool
    var lastRun: String?
    var lastState: String?
    var next: String
    var active: Int?
    var health: String
}

struct CheckRow: Sendable {
    var name: String
    var health: String
    var message: String
    var lastRun: String
    var lastMatch: String
}

struct IncidentRow: Sendable {
    var key: String
    var summary: String
    var openedAt: String
    var silencedUntil: String?
    var health: String
    var severity: String
    var pending: Bool
}

struct PendingRow: Sendable {
    var kind: String
    var key: String
    var notifier: String
    var attempts: Int
    var next: String
    var lastError: String?
}

struct ReplicaRow: Sendable {
    var node: String
    var slot: Int
    var id: String
    var app: String
    var revision: String
    var state: String
    var health: String
    var startedAt: String
    var restarts: Int
}

struct RolloutRow: Sendable {
    var at: String
    var kind: String
    var from: String
    var to: String
    var commit: String
    var detail: String
    var health: String
}

struct LogRow: Sendable {
    var time: String
    var source: String
    var text: String
}

struct GraphModel: Sendable {
    struct Node: Sendable {
        var name: String
        var state: String
        var href: String
        var x: Int
        var y: Int
        var width: Int
        var height: Int
        var textX: Int
        var textY: Int
    }

    var width: Int
    var height: Int
    var nodes: [Node]
    var edges: [DAGGraph.Edge]
}

struct GridColumn: Sendable {
    var dag: String
    var run: String
    var state: String
}

struct GridCell: Sendable {
    var state: String
    var href: String
    var title: String
}

struct GridRow: Sendable {
    var task: String
    var cells: [GridCell]
}

struct TaskRow: Sendable {
    var dag: String
    var run: String
    var name: String
    var after: String
    var command: String
    var retries: Int
    var state: String
    var tries: Int
    /// Why it is not running (a running run's waiting task), or an empty string.
    var why: String = ""
    /// Its pool, or what its sensor waits for (DAG page).
    var pool: String = ""
    /// Mark buttons (run page): the task has no try under way in a run that is not cancelled.
    var canMark: Bool = false
}

struct AttemptRow: Sendable {
    var task: String
    var tryNumber: Int
    var state: String
    var exitCode: String
    var node: String
    var startedAt: String
    var duration: String
    var cleared: Bool
    var open: Bool
    var logs: [LogRow]
    var logNote: String
    /// Why it failed without an exit code of its own, or how the controller ended it.
    var error: String = ""
    /// `KEY=VALUE` of its outputs, one per line.
    var outputs: String = ""
}

struct SinceOption: Sendable {
    var value: String
    var label: String
    var selected: Bool
}

struct OverviewPage: Sendable {
    var chrome: Chrome
    var cards: [Card]
    var apps: [AppRow]
    var dags: [DAGRow]
    var checks: [CheckRow]
    var nodes: [NodeRow]
    var incidents: [IncidentRow]
    var hasIncidents: Bool
}

struct DAGListPage: Sendable {
    var chrome: Chrome
    var dags: [DAGRow]
}

struct NodesPage: Sendable {
    var chrome: Chrome
    var nodes: [NodeRow]
    var replicas: [ReplicaRow]
}

struct AlertsPage: Sendable {
    var chrome: Chrome
    var incidents: [IncidentRow]
    var hasIncidents: Bool
    var checks: [CheckRow]
    var pending: [PendingRow]
}

struct LogsPage: Sendable {
    var chrome: Chrome
    var name: String
    var grep: String
    var sinceOptions: [SinceOption]
    var error: String?
    var searched: Bool
    var count: Int
    var truncated: Bool
    var lines: [LogRow]
}

struct AppPage: Sendable {
    var chrome: Chrome
    var name: String
    var health: String
    var ready: Int
    var desired: Int
    var revision: String
    var rollingOut: Bool
    var run: String?
    var resources: String
    var replicas: [ReplicaRow]
    /// `reconcile explain app/NAME`: why each replica is on its node, and what the plan does now.
    var why: [String]
    var hasWhy: Bool
    var rollouts: [RolloutRow]
    var logs: [LogRow]
}

/// A field of the DAG page's trigger form.
struct ParamField: Sendable {
    var name: String
    var type: String
    var value: String
    var description: String
    /// For enum and bool params: the choices, the default one selected.
    var options: [ParamOption]
    var hasOptions: Bool
    var isNumber: Bool
}

struct ParamOption: Sendable {
    var value: String
    var selected: Bool
}

struct DAGPage: Sendable {
    var chrome: Chrome
    var name: String
    var health: String
    var schedule: String
    var timezone: String
    var paused: Bool
    /// "by git" or "by hand" while paused.
    var pausedBy: String
    var canPause: Bool
    var canUnpause: Bool
    var params: [ParamField]
    var next: String?
    /// `deadline:` as written, and the open `deadline/DAG` incident's summary.
    var deadline: String?
    var late: String?
    var taskCount: Int
    var selected: String?
    var selectedState: String?
    var graph: GraphModel
    var legend: [String]
    var runCount: Int
    var columns: [GridColumn]
    var rows: [GridRow]
    var tasks: [TaskRow]
}

struct RunPage: Sendable {
    var chrome: Chrome
    var dag: String
    var run: String
    var state: String
    var logicalDate: String
    var intervalStart: String
    var intervalEnd: String
    var commit: String
    var finishedAt: String?
    var failure: String?
    var canRerunFailed: Bool
    var canCancel: Bool
    var cancelAsked: String?
    /// `name=value` of each param.
    var params: String
    var graph: GraphModel
    var legend: [String]
    var tasks: [TaskRow]
    var attempts: [AttemptRow]
}

struct LoginPage: Sendable {
    var style = WebTemplates.style
    var enabled: Bool
    var error: String?
    var next: String
    var plainHTTP = false
}

struct MessagePage: Sendable {
    var chrome: Chrome
    var heading: String
    var text: String
    var back: String
}
