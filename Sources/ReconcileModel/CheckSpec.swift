/// A health check: a log pattern, an HTTP or TCP probe, or a Nagios-style command.
public struct CheckSpec: Sendable, Hashable {
    public enum Probe: Sendable, Hashable {
        /// `match`: the pattern must appear within the window; `absent`: it must not.
        case logs(pattern: String, mode: LogMode, within: Timespan)
        case http(url: String, expect: Int, bodyMatch: String?)
        case tcp(host: String, port: Int)
        case command([String])
    }

    public enum LogMode: String, Sendable, Hashable {
        case match
        case absent
    }

    public var name: String
    public var app: String?
    public var probe: Probe
    public var interval: Timespan
    public var timeout: Timespan
    public var failAfter: Int
    public var passAfter: Int
    public var alerts: [String]

    public init(
        name: String, app: String? = nil, probe: Probe, interval: Timespan = .minutes(1),
        timeout: Timespan = .seconds(10), failAfter: Int = 3, passAfter: Int = 1, alerts: [String] = []
    ) {
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
