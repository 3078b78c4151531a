/// A pipeline of batch tasks with dependencies, optionally on a cron schedule.
public struct DAGSpec: Sendable, Hashable {
    public enum Catchup: Sendable, Hashable {
        /// After downtime only the latest missed tick runs.
        case latestOnly
        /// Every missed tick runs, oldest first, at most `limit` (nil: no limit).
        case missed(limit: Int?)
    }

    public var name: String
    public var schedule: CronSchedule?
    /// IANA name of the zone the schedule is read in.
    public var timezone: String
    /// RFC 3339 instant in seconds since 1970; no run for a tick before it.
    public var start: Double?
    public var catchup: Catchup
    public var maxActiveRuns: Int
    public var paused: Bool
    /// Tasks as written, each with the DAG's `defaults` already merged in.
    public var tasks: [TaskSpec]
    public var alerts: [String]
    /// Volumes that live for one run, shared by its tasks.
    public var volumes: [RunVolumeSpec]
    /// How long after its data interval's end a scheduled run must have succeeded (nil: no deadline).
    public var deadline: Timespan?
    /// How long a task may wait for room on the nodes before `queued/NAME` opens an incident.
    public var queuedAlertAfter: Timespan
    /// What a run takes (`params:`), in the order written.
    public var params: [DAGParam]
    /// `schedule: {after: [...]}`: a run starts for a data interval once every one of these DAGs has
    /// a succeeded run for that same interval (instead of a cron schedule).
    public var after: [String]

    public init(
        name: String, schedule: CronSchedule? = nil, timezone: String = "UTC", start: Double? = nil,
        catchup: Catchup = .latestOnly, maxActiveRuns: Int = 1, paused: Bool = false, tasks: [TaskSpec],
        alerts: [String] = [], volumes: [RunVolumeSpec] = [], deadline: Timespan? = nil,
        queuedAlertAfter: Timespan = .hours(1), params: [DAGParam] = [], after: [String] = []
    ) {
        self.params = params
        self.after = after
        self.deadline = deadline
        self.queuedAlertAfter = queuedAlertAfter
        self.volumes = volumes
        self.name = name
        self.schedule = schedule
        self.timezone = timezone
        self.start = start
        self.catchup = catchup
        self.maxActiveRuns = maxActiveRuns
        self.paused = paused
        self.tasks = tasks
        self.alerts = alerts
    }
}

extension DAGSpec {
    /// Every task `task` comes after, directly or through others (a cycle is walked once).
    public func upstream(of task: String) -> Set<String> {
        let byName = Dictionary(tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var seen: Set<String> = []
        var queue = byName[task]?.after ?? []
        while let next = queue.popLast() {
            guard seen.insert(next).inserted else { continue }
            queue += byName[next]?.after ?? []
        }
        return seen
    }
}

public struct TaskSpec: Sendable, Hashable {
    public var name: String
    public var image: String?
    public var command: [String]?
    public var env: [String: String]
    public var secretEnv: [String: SecretReference]
    public var after: [String]
    public var trigger: TriggerRule
    public var retries: Int
    public var retryDelay: Timespan
    public var retryBackoff: RetryBackoff
    public var maxRetryDelay: Timespan
    /// Per attempt; nil means no limit.
    public var timeout: Timespan?
    public var resources: Resources
    public var network: ContainerNetwork
    public var pull: PullPolicy
    /// Files put into each attempt's container before it starts.
    public var files: [FileSpec]
    /// Volumes mounted into each attempt's container.
    public var volumes: [VolumeMount]
    /// The Pool whose slots it takes while it runs.
    public var pool: String?
    /// A sensor (`wait:`) instead of a command: holds no resources while it waits.
    public var sensor: SensorSpec?

    public init(
        name: String, image: String? = nil, command: [String]? = nil, env: [String: String] = [:],
        secretEnv: [String: SecretReference] = [:], after: [String] = [], trigger: TriggerRule = .allSuccess,
        retries: Int = 0, retryDelay: Timespan = .minutes(5), retryBackoff: RetryBackoff = .constant,
        maxRetryDelay: Timespan = .hours(1), timeout: Timespan? = nil, resources: Resources = .defaultRequest,
        network: ContainerNetwork = .bridge, pull: PullPolicy = .ifNotPresent, files: [FileSpec] = [],
        volumes: [VolumeMount] = [], pool: String? = nil, sensor: SensorSpec? = nil
    ) {
        self.pool = pool
        self.sensor = sensor
        self.files = files
        self.volumes = volumes
        self.network = network
        self.pull = pull
        self.name = name
        self.image = image
        self.command = command
        self.env = env
        self.secretEnv = secretEnv
        self.after = after
        self.trigger = trigger
        self.retries = retries
        self.retryDelay = retryDelay
        self.retryBackoff = retryBackoff
        self.maxRetryDelay = maxRetryDelay
        self.timeout = timeout
        self.resources = resources
    }

    /// The variables a task's `command` and `env` may name as `${NAME}` (besides `PARAM_<NAME>` of the
    /// DAG's params and `OUTPUT_<TASK>_<KEY>` of upstream tasks' outputs).
    public static let environmentVariables = [
        "DAG", "RUN_ID", "TASK", "TRY_NUMBER", "LOGICAL_DATE", "DATA_INTERVAL_START", "DATA_INTERVAL_END",
    ]

    /// `OUTPUT_<TASK>_<KEY>`: the task name upper-cased with `-` as `_`.
    public static func outputVariable(task: String, key: String) -> String {
        "OUTPUT_" + String(task.uppercased().map { $0 == "-" ? "_" : $0 }) + "_" + key
    }
}

public enum TriggerRule: String, Sendable, Hashable, CaseIterable {
    case allSuccess
    case allDone
    case anyFailed
}

public enum RetryBackoff: String, Sendable, Hashable, CaseIterable {
    case constant
    case exponential
}
