import Foundation
import ReconcileDrivers
import ReconcileGit
import ReconcileModel
import ReconcilePlanner

/// One reconcile pass: observe every node, plan from scratch, and (unless dry) apply.
public struct Pass: Sendable {
    public struct Result: Sendable {
        public var plan: Plan
        public var failures: [Executor.Failure]
        public var observed: Observed
    }

    public let nodes: [NodeSpec]
    public let drivers: [String: any ContainerDriver]

    public init(nodes: [NodeSpec], drivers: [String: any ContainerDriver]) {
        self.nodes = nodes
        self.drivers = drivers
    }

    /// The nodes of a desired state and a driver for each. With no Node declared, the implicit `local`
    /// node is the Docker engine at /var/run/docker.sock when it answers, else a process node.
    public static func forState(
        _ state: DesiredState, stateDirectory: String, shimPath: String? = nil
    ) async throws -> (pass: Pass, note: String?) {
        var nodes = state.nodes
        var note: String?
        if nodes.isEmpty {
            let docker = try DockerDriver(node: "local", endpoint: "unix:///var/run/docker.sock", timeout: .seconds(3))
            if (try? await docker.info()) != nil {
                nodes = [NodeSpec(name: "local", backend: .docker(endpoint: "unix:///var/run/docker.sock", tls: nil))]
                note = "implicit node local: the Docker engine at /var/run/docker.sock"
            } else {
                nodes = [NodeSpec(name: "local", backend: .process)]
                note = "implicit node local: host processes (no Docker engine answers)"
            }
        }
        var drivers: [String: any ContainerDriver] = [:]
        for node in nodes {
            switch node.backend {
            case .docker(let endpoint, let tls):
                drivers[node.name] = try DockerDriver(node: node.name, endpoint: endpoint, tls: tls)
            case .process:
                drivers[node.name] = try ProcessDriver(
                    node: node.name, stateDirectory: stateDirectory, shimPath: shimPath)
            }
        }
        return (Pass(nodes: nodes, drivers: drivers), note)
    }

    public func run(
        desired: DesiredState, revision: String, dryRun: Bool, now: Date, failedRollouts: [String: String] = [:],
        previous: [String: AppSpec] = [:]
    ) async -> Result {
        let observed = await Observer(drivers: drivers, nodes: nodes).observe(desired: desired, now: now)
        let plan = Planner.plan(
            desired: desired, observed: observed, failedRollouts: failedRollouts, previous: previous, now: now)
        guard !dryRun else { return Result(plan: plan, failures: [], observed: observed) }
        let failures = await Executor(drivers: drivers).apply(plan, desired: desired, revision: revision)
        return Result(plan: plan, failures: failures, observed: observed)
    }
}

/// The human form of a plan (DESIGN.md): `+` added, `-` removed, `~` changed, `!` cannot be placed.
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
