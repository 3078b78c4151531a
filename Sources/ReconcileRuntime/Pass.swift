import Foundation
import ReconcileDrivers
import ReconcileGit
import ReconcileModel
import ReconcilePlanner
import ReconcileRouter

/// One reconcile pass: observe every node, plan (a settled plan is given again for equal inputs,
/// see `ObservationMemory`), and (unless dry) apply.
public struct Pass: Sendable {
    public struct Result: Sendable {
        public var plan: Plan
        public var failures: [Executor.Failure]
        public var observed: Observed
        /// Published port -> ready replicas, as observed before the plan was applied.
        public var published: [Int: PublishedPort] = [:]
    }

    public let nodes: [NodeSpec]
    public let drivers: [String: any ContainerDriver]
    public let options: PlannerOptions
    /// Readiness across passes; a fresh monitor probes every replica once.
    public let health: HealthMonitor
    /// The published ports, when this process serves them (the controller); replicas are drained
    /// from it before they are stopped.
    public let router: Router?
    /// Called after a replica stopped and before it is removed (the controller collects its last
    /// output there).
    public let beforeRemove: (@Sendable (_ node: String, _ containerID: String) async -> Void)?
    /// Replicas are drained from the router before they stop. Only the rollout test's control turns
    /// this off, to show that its zero-failure check would see the requests lost without the drain.
    public var drainsBeforeStop = true
    /// Failed image pulls and their backoff, across passes (the controller keeps one for its life).
    public var pulls = PullBackoff()
    /// What a pass keeps for the next (`ObservationMemory`): node readings, the last observation, a
    /// settled plan, spec hashes. Memory only: a restarted controller reads and plans everything.
    public let memory = ObservationMemory()

    public init(
        nodes: [NodeSpec], drivers: [String: any ContainerDriver], options: PlannerOptions = PlannerOptions(),
        health: HealthMonitor = HealthMonitor(), router: Router? = nil,
        beforeRemove: (@Sendable (_ node: String, _ containerID: String) async -> Void)? = nil
    ) {
        self.beforeRemove = beforeRemove
        self.nodes = nodes
        self.drivers = drivers
        self.options = options
        self.health = health
        self.router = router
    }

    /// The nodes of a desired state and a driver for each. With no Node declared, the implicit `local`
    /// node is the Docker engine at /var/run/docker.sock when it answers, else a process node.
    /// `retired` nodes (removed from git, draining) are managed too, after the declared ones.
    public static func forState(
        _ state: DesiredState, retired: [NodeSpec] = [], stateDirectory: String, shimPath: String? = nil,
        publishAddress: String = "127.0.0.1", pulls: PullBackoff = PullBackoff(),
        health: HealthMonitor = HealthMonitor(), router: Router? = nil,
        beforeRemove: (@Sendable (_ node: String, _ containerID: String) async -> Void)? = nil
    ) async throws -> (pass: Pass, note: String?) {
        var nodes = state.nodes
        var note: String?
        if nodes.isEmpty {
            let docker = try DockerDriver(
                node: "local", endpoint: "unix:///var/run/docker.sock", timeout: .seconds(3), address: publishAddress)
            if (try? await docker.info()) != nil {
                nodes = [NodeSpec(name: "local", backend: .docker(endpoint: "unix:///var/run/docker.sock", tls: nil))]
                note = "implicit node local: the Docker engine at /var/run/docker.sock"
            } else {
                nodes = [NodeSpec(name: "local", backend: .process)]
                note = "implicit node local: host processes (no Docker engine answers)"
            }
        }
        nodes += retired
        var drivers: [String: any ContainerDriver] = [:]
        for node in nodes {
            switch node.backend {
            case .docker:
                drivers[node.name] = try DockerDriver(node, publishAddress: publishAddress)
            case .process:
                drivers[node.name] = try ProcessDriver(
                    node: node.name, stateDirectory: stateDirectory, shimPath: shimPath)
            }
        }
        var pass = Pass(nodes: nodes, drivers: drivers, health: health, router: router, beforeRemove: beforeRemove)
        pass.pulls = pulls
        return (pass, note)
    }

    public func run(
        desired: DesiredState, revision: String, dryRun: Bool, now: Date, failedRollouts: [String: String] = [:],
        previous: [String: AppSpec] = [:], unreachableSince: [String: Date] = [:],
        lastSeen: [String: [ObservedContainer]] = [:], snapshot: ClusterSnapshot? = nil
    ) async -> Result {
        let observation = await Observer(drivers: drivers, nodes: nodes, health: health, memory: memory).observe(
            desired: desired, unreachableSince: unreachableSince, lastSeen: lastSeen, now: now, snapshot: snapshot)
        let observed = observation.observed
        let inputs = ObservationMemory.PlanInputs(
            desired: desired, observed: observed, failedRollouts: failedRollouts, previous: previous, options: options)
        let plan: Plan
        if let settled = memory.settledPlan(for: inputs, now: now) {
            plan = settled
        } else {
            // Hashed once per spec (kept from the last pass for the specs that did not change).
            let hashes = memory.hashes(of: desired.apps)
            plan = Planner.plan(
                desired: desired, observed: observed, failedRollouts: failedRollouts, previous: previous, now: now,
                options: options, hashes: hashes)
            memory.planned(plan, from: inputs, hashes: hashes, now: now)
        }
        guard !dryRun else {
            return Result(plan: plan, failures: [], observed: observed, published: observation.published)
        }
        var failures: [Executor.Failure] = []
        if let router {
            // Ready replicas join before anything stops, so the pool never empties during a rollout.
            for error in observation.routeErrors + (await router.update(ports: observation.published)) {
                failures.append(Executor.Failure(.route, .router(error)))
            }
        }
        var beforeStop: (@Sendable (StopContainer) async -> Void)?
        if let router, drainsBeforeStop {
            beforeStop = { stop in await router.drain(stop.containerID, grace: stop.grace) }
        }
        let executor = Executor(drivers: drivers, beforeStop: beforeStop, beforeRemove: beforeRemove, pulls: pulls)
        failures += await executor.apply(plan, desired: desired, revision: revision)
        return Result(plan: plan, failures: failures, observed: observed, published: observation.published)
    }
}

/// The human form of a plan (README "The plan"): `+` added, `-` removed, `~` changed, `!` cannot be placed.
public enum PlanText {
    public static func lines(_ plan: Plan) -> (lines: [String], changed: Bool) {
        var lines: [String] = []
        var changed = false
        for change in plan.changes {
            let marker: String =
                switch change.kind {
                case .added: "+"
                case .removed: "-"
                default: "~"
                }
            if change.kind != .waiting || change.unplaceable.isEmpty {
                lines.append("\(marker) \(change.summary)")
                changed = true
            }
            let reasons = Dictionary(grouping: change.unplaceable.map(\.reason), by: { $0 })
            for (reason, all) in reasons.sorted(by: { $0.key < $1.key }) {
                lines.append(
                    "! app \(change.app): \(all.count) replica\(all.count == 1 ? "" : "s") unplaceable: \(reason)")
            }
        }
        return (lines, changed || !plan.actions.isEmpty)
    }
}
