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

    public init(
        dag: String, run: String, state: String, logicalDate: Date, dataIntervalStart: Date, dataIntervalEnd: Date,
        commit: String, finishedAt: Date? = nil, failure: String? = nil
    ) {
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

    public init(
        task: String, tryNumber: Int, state: String, exitCode: Int? = nil, node: String, container: String,
        cleared: Bool, logPath: String? = nil, startedAt: Date, finishedAt: Date? = nil
    ) {
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

    public init(run: RunView, attempts: [AttemptView]) {
        self.run = run
        self.attempts = attempts
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

    public init(
        dag: String, schedule: String, paused: Bool, tasks: Int, next: Date? = nil, lastRun: String? = nil,
        lastState: String? = nil, active: Int
    ) {
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

    public init(key: String, openedAt: Date, summary: String, silencedUntil: Date? = nil) {
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

    public init(
        app: String, node: String, id: String, slot: Int, revision: String, ready: Bool, exitCode: Int? = nil,
        startedAt: Date? = nil, restarts: Int = 0
    ) {
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

    public init(
        name: String, reachable: Bool, cpuMillicores: Int64, memoryBytes: Int64, usedCPUMillicores: Int64,
        usedMemoryBytes: Int64
    ) {
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
