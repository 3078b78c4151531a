import Foundation
import Prometheus
import ReconcileAPI
import ReconcileAlerts
import ReconcileBuildInfo
import ReconcilePlanner

/// The controller's Prometheus metrics (swift-prometheus), served at `/metrics`.
public final class ControllerMetrics: AlertMetrics, Sendable {
    public let registry = PrometheusCollectorRegistry()
    let passes: Counter
    let passFailures: Counter
    let passDuration: DurationHistogram
    let planActions: Gauge
    let gitFetchErrors: Counter
    let quietTicks: Counter
    public let webhookPushes: Counter
    public let webhookRejected: Counter
    let handoff: DurationHistogram

    public init() {
        passes = registry.makeCounter(descriptor: Self.name("passes_total", "Reconcile passes run."))
        passFailures = registry.makeCounter(
            descriptor: Self.name("pass_failures_total", "Reconcile passes with a failed action or error."))
        passDuration = registry.makeDurationHistogram(
            descriptor: Self.name("pass_duration_seconds", "Duration of a reconcile pass (observe, plan, apply)."),
            buckets: [
                .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ])
        planActions = registry.makeGauge(descriptor: Self.name("plan_actions", "Actions in the last pass's plan."))
        gitFetchErrors = registry.makeCounter(descriptor: Self.name("git_fetch_errors_total", "Failed git polls."))
        quietTicks = registry.makeCounter(
            descriptor: Self.name(
                "quiet_ticks_total", "Ticks that ran no pass: the cluster was settled and nothing had changed."))
        webhookPushes = registry.makeCounter(descriptor: Self.name("webhook_pushes_total", "Verified push webhooks."))
        webhookRejected = registry.makeCounter(
            descriptor: Self.name("webhook_rejected_total", "Webhooks refused (bad or missing signature)."))
        handoff = registry.makeDurationHistogram(
            descriptor: Self.name(
                "task_handoff_seconds", "From the last upstream task's exit to a downstream task's start."),
            buckets: [
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                .seconds(1), .seconds(5),
            ])
        registry.makeGauge(
            descriptor: Self.name(
                "build_info", "The version and git commit this controller was built from (always 1)."),
            labels: [("version", ReconcileVersion.version), ("commit", ReconcileVersion.commit)]
        ).set(Double(1))
    }

    /// Gauges that are read fresh before each scrape.
    func gauge(_ name: String, _ labels: [(String, String)], help: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name(name, help), labels: labels)
    }

    func counter(_ name: String, _ labels: [(String, String)], help: String) -> Counter {
        registry.makeCounter(descriptor: Self.name(name, help), labels: labels)
    }

    /// `reconcile_<name>`.
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "reconcile", metricName: name, unitName: "", helpText: help)
    }

    /// DAG runs and task attempts by state, as the store has them.
    func record(runs: [String: Int], attempts: [String: Int]) {
        for state in ["running", "succeeded", "failed"] {
            gauge("dag_runs", [("state", state)], help: "DAG runs by state.").set(Double(runs[state] ?? 0))
        }
        for state in ["recorded", "running", "succeeded", "failed", "timedOut"] {
            gauge("task_attempts", [("state", state)], help: "Task attempts by state (not cleared by a rerun).")
                .set(Double(attempts[state] ?? 0))
        }
    }

    public func checkResult(_ check: String, passed: Bool) {
        counter(
            "check_results_total", [("check", check), ("result", passed ? "pass" : "fail")],
            help: "Check runs by result."
        )
        .increment()
    }

    public func notification(_ notifier: String, result: String) {
        counter(
            "notifications_total", [("notifier", notifier), ("result", result)], help: "Delivery attempts by result."
        )
        .increment()
    }

    /// Records what a pass saw: apps ready/desired, rollouts in progress.
    /// The pass itself, and the apps and nodes as `StatusViews` read them from its observation.
    func record(_ result: Pass.Result, apps: [AppView], nodes: [NodeView], duration: Duration) {
        passes.increment()
        if !result.failures.isEmpty { passFailures.increment() }
        passDuration.record(duration)
        planActions.set(Double(result.plan.actions.count))
        for app in apps {
            gauge("app_replicas_desired", [("app", app.name)], help: "Replicas an App asks for.").set(
                Double(app.desired))
            gauge("app_replicas_ready", [("app", app.name)], help: "Ready replicas of an App's current revision.")
                .set(Double(app.ready))
            gauge("app_rolling_out", [("app", app.name)], help: "1 while an App runs more than one revision.")
                .set(app.rollingOut ? 1.0 : 0.0)
        }
        for node in nodes {
            gauge("node_reachable", [("node", node.name)], help: "1 when the node answers.")
                .set(node.reachable ? 1.0 : 0.0)
            gauge("node_schedulable", [("node", node.name)], help: "0 while the node is draining (takes no new work).")
                .set(node.schedulable ? 1.0 : 0.0)
        }
    }
}
