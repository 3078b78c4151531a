/// A health check: a log pattern, an HTTP or TCP probe, or a Nagios-style command.
public struct CheckSpec: Sendable, Hashable {
    public enum Probe: Sendable, Hashable {
        /// `match`: the pattern must appear within the window; `absent`: it must not; `count`: the
        /// lines matching it within the window must stay within bounds. Over the App's replicas'
        /// output, or over a DAG task's output in its latest run (`task`).
        case logs(pattern: String, mode: LogMode, within: Timespan)
        case http(url: String, expect: Int, bodyMatch: String?)
        case tcp(host: String, port: Int)
        case command([String])
    }

    public enum LogMode: Sendable, Hashable {
        case match
        case absent
        /// Fails when more than `above` or fewer than `below` lines match within the window.
        case count(above: Int?, below: Int?)

        public var name: String {
            switch self {
            case .match: "match"
            case .absent: "absent"
            case .count: "count"
            }
        }
    }

    /// A DAG task whose output a log check reads (its latest run), instead of an App's replicas.
    public struct TaskTarget: Sendable, Hashable, CustomStringConvertible {
        public var dag: String
        public var task: String

        public init(dag: String, task: String) {
            self.dag = dag
            self.task = task
        }

        public var description: String { "\(dag)/\(task)" }
    }

    public var name: String
    public var app: String?
    public var probe: Probe
    public var interval: Timespan
    public var timeout: Timespan
    public var failAfter: Int
    public var passAfter: Int
    public var alerts: [String]
    /// The severity of a failure, when set; else a command's exit says it (1 warning, 2 critical)
    /// and every other check is critical.
    public var severity: Severity?
    /// A log check over a DAG task's output.
    public var task: TaskTarget?

    public init(
        name: String, app: String? = nil, probe: Probe, interval: Timespan = .minutes(1),
        timeout: Timespan = .seconds(10), failAfter: Int = 3, passAfter: Int = 1, alerts: [String] = [],
        severity: Severity? = nil, task: TaskTarget? = nil
    ) {
        self.severity = severity
        self.task = task
        self.name = name
        self.app = app
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        self.failAfter = failAfter
        self.passAfter = passAfter
        self.alerts = alerts
    }
}
