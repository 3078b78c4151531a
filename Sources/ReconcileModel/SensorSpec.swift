/// A task that waits for an outside condition instead of running a command (`wait:`): polled by the
/// controller every `interval` until it holds or `timeout` passes. A waiting sensor holds no cpu or
/// memory on any node and no container.
public struct SensorSpec: Sendable, Hashable {
    public enum Condition: Sendable, Hashable {
        /// A path on the controller's host exists (the host of its process nodes).
        case file(path: String)
        /// An HTTP GET answers with the expected status.
        case http(url: String, expect: Int)
        /// A command (argv) exits 0; each poll may take at most the poll timeout.
        case command([String])
    }

    public var condition: Condition
    public var interval: Timespan
    public var timeout: Timespan

    public init(condition: Condition, interval: Timespan = .seconds(30), timeout: Timespan = .hours(1)) {
        self.condition = condition
        self.interval = interval
        self.timeout = timeout
    }

    /// Each poll's own time limit (an http request or a command): at most 10 s, never beyond the interval.
    public var pollTimeout: Timespan { Timespan(milliseconds: min(interval.milliseconds, 10_000)) }

    public var summary: String {
        switch condition {
        case .file(let path): "file \(path) exists"
        case .http(let url, let expect): "GET \(url) answers \(expect)"
        case .command(let argv): "command \(argv.joined(separator: " ")) exits 0"
        }
    }
}

/// A cap on how many tasks run at once across every DAG (`kind: Pool`).
public struct PoolSpec: Sendable, Hashable {
    public var name: String
    public var slots: Int

    public init(name: String, slots: Int) {
        self.name = name
        self.slots = slots
    }
}
