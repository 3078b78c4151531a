import Foundation

/// What the CLI shows and the HTTP API returns: the same values, so a command gives the same answer
/// from the state directory and through a running controller (`--controller URL`).
public struct RunView: Codable, Sendable, Hashable {
    public var dag: String
    public var run: String
    public var state: String
    public var logicalDate: Date
    public var dataIntervalStart: Date
    public var dataIntervalEnd: Date
    public var commit: String
    public var finishedAt: Date?
    public var failure: String?
    /// The run's param values (defaults filled in).
    public var params: [String: String]
    /// When someone asked to cancel it (while the controller has not stopped it yet).
    public var cancelRequestedAt: Date?

    public init(
        dag: String, run: String, state: String, logicalDate: Date, dataIntervalStart: Date, dataIntervalEnd: Date,
        commit: String, finishedAt: Date? = nil, failure: String? = nil, params: [String: String] = [:],
        cancelRequestedAt: Date? = nil
    ) {
        self.params = params
        self.cancelRequestedAt = cancelRequestedAt
        self.dag = dag
        self.run = run
        self.state = state
        self.logicalDate = logicalDate
        self.dataIntervalStart = dataIntervalStart
        self.dataIntervalEnd = dataIntervalEnd
        self.commit = commit
        self.finishedAt = finishedAt
        self.failure = failure
    }
}

public struct AttemptView: Codable, Sendable, Hashable {
    public var task: String
    public var tryNumber: Int
    public var state: String
    public var exitCode: Int?
    public var node: String
    public var container: String
    public var cleared: Bool
    public var logPath: String?
    public var startedAt: Date
    public var finishedAt: Date?
    /// Why it failed without an exit code of its own, or how the controller ended it.
    public var error: String?
    /// What it wrote to `$RECONCILE_OUTPUTS`.
    public var outputs: [String: String]
    /// Recorded by a person (`runs mark`), not run.
    public var marked: Bool

    public init(
        task: String, tryNumber: Int, state: String, exitCode: Int? = nil, node: String, container: String,
        cleared: Bool, logPath: String? = nil, startedAt: Date, finishedAt: Date? = nil, error: String? = nil,
        outputs: [String: String] = [:], marked: Bool = false
    ) {
        self.outputs = outputs
        self.marked = marked
        self.error = error
        self.task = task
        self.tryNumber = tryNumber
        self.state = state
        self.exitCode = exitCode
        self.node = node
        self.container = container
        self.cleared = cleared
        self.logPath = logPath
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

public struct RunDetailView: Codable, Sendable, Hashable {
    public var run: RunView
    public var attempts: [AttemptView]
    /// Why each task that is neither running nor finished waits (running runs only).
    public var waiting: [WaitingView]

    public init(run: RunView, attempts: [AttemptView], waiting: [WaitingView] = []) {
        self.run = run
        self.attempts = attempts
        self.waiting = waiting
    }
}

/// Why a task of a running run is not running.
public struct WaitingView: Codable, Sendable, Hashable {
    public var task: String
    /// The one reason, e.g. `waiting on upstream extract`, `queued for room: needs cpu 500m, ...`.
    public var reason: String
    /// Since when this reason has held.
    public var since: Date
    /// For a task queued for room: each node and why it cannot take the task.
    public var nodes: [String]

    public init(task: String, reason: String, since: Date, nodes: [String] = []) {
        self.task = task
        self.reason = reason
        self.since = since
        self.nodes = nodes
    }
}

/// `reconcile explain task DAG/RUN/TASK`: the task's state and the single reason for it.
public struct TaskExplanation: Codable, Sendable, Hashable {
    public var dag: String
    public var run: String
    public var task: String
    /// waiting, queued, retrying, running, succeeded, failed, not run.
    public var state: String
    public var reason: String
    public var since: Date?
    /// Supporting lines: each node's reason, the attempt's node and error.
    public var details: [String]
    public var attempts: [AttemptView]

    public init(
        dag: String, run: String, task: String, state: String, reason: String, since: Date?, details: [String],
        attempts: [AttemptView]
    ) {
        self.dag = dag
        self.run = run
        self.task = task
        self.state = state
        self.reason = reason
        self.since = since
        self.details = details
        self.attempts = attempts
    }
}

/// `reconcile explain incident NAME`: the condition, its settle time, and every notice with its state.
public struct IncidentExplanation: Codable, Sendable, Hashable {
    public struct NoticeState: Codable, Sendable, Hashable {
        public var kind: String
        public var notifier: String
        public var createdAt: Date
        /// sent, pending, retrying or given up.
        public var state: String
        public var attempts: Int
        public var sentAt: Date?
        public var nextAttemptAt: Date?
        public var lastError: String?

        public init(
            kind: String, notifier: String, createdAt: Date, state: String, attempts: Int, sentAt: Date?,
            nextAttemptAt: Date?, lastError: String?
        ) {
            self.kind = kind
            self.notifier = notifier
            self.createdAt = createdAt
            self.state = state
            self.attempts = attempts
            self.sentAt = sentAt
            self.nextAttemptAt = nextAttemptAt
            self.lastError = lastError
        }
    }

    public var key: String
    public var open: Bool
    public var openedAt: Date?
    public var summary: String
    /// How long the thing must pass before its incident resolves.
    public var settle: String?
    public var passingSince: Date?
    public var flaps: Int
    public var silencedUntil: Date?
    public var notices: [NoticeState]

    public init(
        key: String, open: Bool, openedAt: Date?, summary: String, settle: String?, passingSince: Date?, flaps: Int,
        silencedUntil: Date?, notices: [NoticeState]
    ) {
        self.key = key
        self.open = open
        self.openedAt = openedAt
        self.summary = summary
        self.settle = settle
        self.passingSince = passingSince
        self.flaps = flaps
        self.silencedUntil = silencedUntil
        self.notices = notices
    }
}

/// `reconcile explain app/NAME`: each replica's node and why, and what the planner would do now.
public struct AppExplanation: Codable, Sendable, Hashable {
    public struct Replica: Codable, Sendable, Hashable {
        public var slot: Int
        public var node: String
        public var container: String
        public var revision: String
        public var state: String
        /// The chosen node's score when it was placed, and each other node's reason then.
        public var score: String?
        public var placedAt: Date?
        public var rejected: [String]

        public init(
            slot: Int, node: String, container: String, revision: String, state: String, score: String?,
            placedAt: Date?, rejected: [String]
        ) {
            self.slot = slot
            self.node = node
            self.container = container
            self.revision = revision
            self.state = state
            self.score = score
            self.placedAt = placedAt
            self.rejected = rejected
        }
    }

    public var app: String
    public var desired: Int
    public var replicas: [Replica]
    /// What the last pass planned for the App and why (empty when it is in sync).
    public var plan: [String]
    /// Replicas that fit nowhere: each node's reason.
    public var unplaceable: [String]

    public init(app: String, desired: Int, replicas: [Replica], plan: [String], unplaceable: [String]) {
        self.app = app
        self.desired = desired
        self.replicas = replicas
        self.plan = plan
        self.unplaceable = unplaceable
    }
}

public struct DAGView: Codable, Sendable, Hashable {
    public var dag: String
    public var schedule: String
    public var paused: Bool
    public var tasks: Int
    public var next: Date?
    public var lastRun: String?
    public var lastState: String?
    public var active: Int
    /// What holds a pause: `git` (the field paused:), `hand` (`reconcile dags pause`), or nil.
    public var pausedBy: String?

    public init(
        dag: String, schedule: String, paused: Bool, tasks: Int, next: Date? = nil, lastRun: String? = nil,
        lastState: String? = nil, active: Int, pausedBy: String? = nil
    ) {
        self.pausedBy = pausedBy
        self.dag = dag
        self.schedule = schedule
        self.paused = paused
        self.tasks = tasks
        self.next = next
        self.lastRun = lastRun
        self.lastState = lastState
        self.active = active
    }
}

public struct CheckView: Codable, Sendable, Hashable {
    public var name: String
    public var failing: Bool
    public var message: String
    public var lastRun: Date?
    public var lastMatch: Date?

    public init(name: String, failing: Bool, message: String, lastRun: Date? = nil, lastMatch: Date? = nil) {
        self.name = name
        self.failing = failing
        self.message = message
        self.lastRun = lastRun
        self.lastMatch = lastMatch
    }
}

public struct IncidentView: Codable, Sendable, Hashable {
    public var key: String
    public var openedAt: Date
    public var summary: String
    public var silencedUntil: Date?
    /// The silence muting it (a Silence's name, or `cli`).
    public var silencedBy: String?
    /// `warning` or `critical`.
    public var severity: String
    /// `firing`, or `pending` while it has failed for less than its condition's wait (e.g. an
    /// App's `alertAfter`): nobody has been told yet.
    public var state: String

    public init(
        key: String, openedAt: Date, summary: String, silencedUntil: Date? = nil, severity: String = "critical",
        state: String = "firing", silencedBy: String? = nil
    ) {
        self.silencedBy = silencedBy
        self.severity = severity
        self.state = state
        self.key = key
        self.openedAt = openedAt
        self.summary = summary
        self.silencedUntil = silencedUntil
    }
}

public struct PendingNoticeView: Codable, Sendable, Hashable {
    public var kind: String
    public var key: String
    public var notifier: String
    public var attempts: Int
    public var nextAttemptAt: Date
    public var givenUp: Bool
    public var lastError: String?

    public init(
        kind: String, key: String, notifier: String, attempts: Int, nextAttemptAt: Date, givenUp: Bool,
        lastError: String? = nil
    ) {
        self.kind = kind
        self.key = key
        self.notifier = notifier
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.givenUp = givenUp
        self.lastError = lastError
    }
}

public struct AlertsView: Codable, Sendable, Hashable {
    public var incidents: [IncidentView]
    public var checks: [CheckView]
    public var pending: [PendingNoticeView]

    public init(incidents: [IncidentView], checks: [CheckView], pending: [PendingNoticeView]) {
        self.incidents = incidents
        self.checks = checks
        self.pending = pending
    }
}

public struct LogLineView: Codable, Sendable, Hashable {
    public var source: String
    public var time: Date
    public var stream: String
    public var text: String

    public init(source: String, time: Date, stream: String, text: String) {
        self.source = source
        self.time = time
        self.stream = stream
        self.text = text
    }
}

public struct AppView: Codable, Sendable, Hashable {
    public var name: String
    public var desired: Int
    public var running: Int
    public var ready: Int
    public var revision: String
    public var rollingOut: Bool

    public init(name: String, desired: Int, running: Int, ready: Int, revision: String, rollingOut: Bool) {
        self.name = name
        self.desired = desired
        self.running = running
        self.ready = ready
        self.revision = revision
        self.rollingOut = rollingOut
    }
}

/// One running (or exited, not yet replaced) replica of an App, as the last pass observed it.
public struct ReplicaView: Codable, Sendable, Hashable {
    public var app: String
    public var node: String
    public var id: String
    public var slot: Int
    public var revision: String
    public var ready: Bool
    /// Set when the replica exited (it is being restarted or replaced).
    public var exitCode: Int?
    public var startedAt: Date?
    public var restarts: Int
    /// The exit was the kernel's kill at the memory limit.
    public var outOfMemory: Bool

    public init(
        app: String, node: String, id: String, slot: Int, revision: String, ready: Bool, exitCode: Int? = nil,
        startedAt: Date? = nil, restarts: Int = 0, outOfMemory: Bool = false
    ) {
        self.outOfMemory = outOfMemory
        self.app = app
        self.node = node
        self.id = id
        self.slot = slot
        self.revision = revision
        self.ready = ready
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.restarts = restarts
    }
}

public struct NodeView: Codable, Sendable, Hashable {
    public var name: String
    public var reachable: Bool
    public var cpuMillicores: Int64
    public var memoryBytes: Int64
    public var usedCPUMillicores: Int64
    public var usedMemoryBytes: Int64
    /// False while the node takes no new work (drained, `schedulable: false`, or removed from git).
    public var schedulable: Bool
    /// Why it takes no new work: "drained", "drained until …", "schedulable: false in git",
    /// "removed from git"; nil while schedulable.
    public var draining: String?

    public init(
        name: String, reachable: Bool, cpuMillicores: Int64, memoryBytes: Int64, usedCPUMillicores: Int64,
        usedMemoryBytes: Int64, schedulable: Bool = true, draining: String? = nil
    ) {
        self.schedulable = schedulable
        self.draining = draining
        self.name = name
        self.reachable = reachable
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.usedCPUMillicores = usedCPUMillicores
        self.usedMemoryBytes = usedMemoryBytes
    }
}

/// One screen of health: what runs, what failed, what is open.
public struct StatusView: Codable, Sendable, Hashable {
    public var commit: String?
    public var apps: [AppView]
    public var nodes: [NodeView]
    public var dags: [DAGView]
    public var alerts: AlertsView

    public init(commit: String? = nil, apps: [AppView], nodes: [NodeView], dags: [DAGView], alerts: AlertsView) {
        self.commit = commit
        self.apps = apps
        self.nodes = nodes
        self.dags = dags
        self.alerts = alerts
    }
}

/// A JSON coder pair with RFC 3339 dates, for the API and the CLI alike.
public enum APICoding {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// `POST /api/v1/dags/DAG/trigger`: param values by name (checked against the DAG's params).
public struct TriggerRequest: Codable, Sendable {
    public var params: [String: String]?
    public init(params: [String: String]? = nil) { self.params = params }
}

/// `POST /api/v1/runs/DAG/RUN/mark`: the task and `success` or `failed`.
public struct MarkRequest: Codable, Sendable {
    public var task: String
    public var state: String
    public init(task: String, state: String) {
        self.task = task
        self.state = state
    }
}

/// The answer of pause and unpause: the DAG and what now holds.
public struct PauseResponse: Codable, Sendable {
    public var dag: String
    public var paused: Bool
    public var message: String
    public init(dag: String, paused: Bool, message: String) {
        self.dag = dag
        self.paused = paused
        self.message = message
    }
}
