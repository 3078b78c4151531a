import Foundation
import Prometheus
import ReconcileLogs
import ReconcileRouter
import Synchronization

/// What the router reports, made visible: request counts by status class, latencies, retries and
/// open connections in `/metrics`, and the access log lines of ports that ask for them, appended
/// once a second to the App's logs as source `router` (so `reconcile logs` and log checks see them).
public final class RouterTraffic: RouterObserver {
    private struct Series: Sendable {
        var requests: [String: Counter] = [:]
        var durations: [String: DurationHistogram] = [:]
        var retries: [String: Counter] = [:]
        var connections: [Int: Gauge] = [:]
        var open: [Int: Int] = [:]
        var lines: [String: [CollectedLine]] = [:]
        var buffered = 0
    }

    private let registry: PrometheusCollectorRegistry
    private let logs: LogStore?
    private let series = Mutex(Series())
    /// Lines held between flushes at most (past it, new lines are dropped and counted).
    private let maxBuffered = 100_000
    private let dropped: Counter

    public init(registry: PrometheusCollectorRegistry, logs: LogStore?) {
        self.registry = registry
        self.logs = logs
        dropped = registry.makeCounter(
            descriptor: ControllerMetrics.name(
                "router_access_log_dropped_total", "Access log lines dropped because the log writer fell behind."))
    }

    public func finished(_ request: RequestRecord) {
        let app = request.app.isEmpty ? "-" : request.app
        let port = request.port.isEmpty ? String(request.publish) : request.port
        let key = "\(app)\u{1}\(port)"
        let statusClass = "\(request.status / 100)xx"
        let (counter, histogram, retries, overflow) = series.withLock { series in
            let counterKey = key + "\u{1}" + statusClass
            let counter =
                series.requests[counterKey]
                ?? registry.makeCounter(
                    descriptor: ControllerMetrics.name(
                        "router_requests_total", "HTTP requests answered by the router."),
                    labels: [("app", app), ("port", port), ("code", statusClass)])
            series.requests[counterKey] = counter
            let histogram =
                series.durations[key]
                ?? registry.makeDurationHistogram(
                    descriptor: ControllerMetrics.name(
                        "router_request_duration_seconds", "From a request's head to its response's end."),
                    labels: [("app", app), ("port", port)],
                    buckets: [
                        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
                    ])
            series.durations[key] = histogram
            var retries: Counter?
            if request.retries > 0 {
                retries =
                    series.retries[key]
                    ?? registry.makeCounter(
                        descriptor: ControllerMetrics.name(
                            "router_retries_total", "Requests sent again after a replica failed before answering."),
                        labels: [("app", app), ("port", port)])
                series.retries[key] = retries
            }
            var overflow = false
            if request.accessLog, !request.app.isEmpty {
                if series.buffered < maxBuffered {
                    series.lines[request.app, default: []].append(
                        CollectedLine(time: request.time, stderr: request.status >= 500, text: request.logLine))
                    series.buffered += 1
                } else {
                    overflow = true
                }
            }
            return (counter, histogram, retries, overflow)
        }
        counter.increment()
        histogram.record(request.duration)
        retries?.increment(by: Int64(request.retries))
        if overflow { dropped.increment() }
    }

    public func connections(publish: Int, delta: Int) {
        let (gauge, value) = series.withLock { series in
            let gauge =
                series.connections[publish]
                ?? registry.makeGauge(
                    descriptor: ControllerMetrics.name(
                        "router_connections", "Client connections open on a published port."),
                    labels: [("publish", String(publish))])
            series.connections[publish] = gauge
            series.open[publish, default: 0] += delta
            return (gauge, series.open[publish] ?? 0)
        }
        gauge.set(Double(value))
    }

    /// Appends the buffered access log lines to each App's `router` log.
    public func flush() {
        guard let logs else { return }
        let lines = series.withLock { series in
            defer {
                series.lines = [:]
                series.buffered = 0
            }
            return series.lines
        }
        for (app, batch) in lines where !batch.isEmpty {
            let sorted = batch.sorted { $0.time < $1.time }
            if let base = try? logs.writableSegment(app: app, replica: "router", firstTime: sorted[0].time) {
                _ = try? LogSegment.append(sorted, to: base)
            }
        }
    }

    /// Flushes once a second until stopped, and once more then.
    public func run(stopping: @Sendable () -> Bool) async {
        while !stopping() {
            try? await Task.sleep(for: .seconds(1))
            flush()
        }
        flush()
    }
}
