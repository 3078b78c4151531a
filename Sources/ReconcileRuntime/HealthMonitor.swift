import Foundation
import ReconcileAlerts
import ReconcileDrivers
import ReconcileModel

/// Readiness of each replica, from its App's health probe: probed at most once per `interval`;
/// ready from the first success; not ready again after `failureThreshold` failures in a row.
/// Replicas of Apps without a probe are ready from their start. Memory only: a restarted
/// controller probes again (a replica is ready after its first success).
public actor HealthMonitor {
    struct State {
        var lastProbe: Date
        var readySince: Date?
        var failures: Int
        var lastError: String?
    }

    private var states: [String: State] = [:]

    public init() {}

    /// When the replica became ready, or nil while it is not; probes it first when a probe is due.
    public func readySince(
        app: AppSpec, container: ContainerInfo, driver: any ContainerDriver, now: Date
    ) async -> Date? {
        guard container.status == .running else {
            states[container.id] = nil
            return nil
        }
        guard let health = app.health else { return container.startedAt ?? now }
        if let state = states[container.id], now.timeIntervalSince(state.lastProbe) < health.interval.seconds {
            return state.readySince
        }
        let outcome = await HealthProbe.run(health, app: app, container: container, driver: driver)
        var state = states[container.id] ?? State(lastProbe: now, readySince: nil, failures: 0)
        state.lastProbe = now
        switch outcome {
        case .healthy:
            state.failures = 0
            state.lastError = nil
            state.readySince = state.readySince ?? now
        case .unhealthy(let reason):
            state.lastError = reason
            // Failures within the start period do not count; a ready replica stays ready until the threshold.
            let starting = container.startedAt.map { now.timeIntervalSince($0) < health.startPeriod.seconds } ?? false
            if !starting { state.failures += 1 }
            if state.failures >= health.failureThreshold { state.readySince = nil }
        }
        states[container.id] = state
        return state.readySince
    }

    /// Why the replica is not healthy, when its last probe failed.
    public func lastError(_ id: String) -> String? { states[id]?.lastError }

    /// Forgets replicas that are gone.
    public func keep(only ids: Set<String>) {
        states = states.filter { ids.contains($0.key) }
    }
}
