import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcilePlanner

/// Apps and nodes as `reconcile status` and the API show them, from one observation.
public enum StatusViews {
    /// - Parameter specs: the pass's nodes (with their drains), to say why a node takes no work.
    public static func make(
        state: DesiredState, observed: Observed, specs: [NodeSpec] = []
    ) -> (apps: [AppView], nodes: [NodeView]) {
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let apps = state.apps.map { app in
            let mine = observed.containers.filter { $0.app == app.name && $0.isRunning }
            let revision = SpecHash.of(app)
            return AppView(
                name: app.name, desired: app.replicas, running: mine.count,
                ready: mine.filter { $0.readySince != nil && $0.specHash == revision }.count,
                revision: String(revision.prefix(12)), rollingOut: Set(mine.map(\.specHash)).count > 1)
        }
        let nodes = observed.nodes.map { node in
            let used = observed.containers.filter { $0.node == node.name && $0.isRunning }.reduce(node.tasks) {
                $0 + $1.resources
            }
            return NodeView(
                name: node.name, reachable: node.unreachableSince == nil, cpuMillicores: node.capacity.cpu.millicores,
                memoryBytes: node.capacity.memory.bytes, usedCPUMillicores: used.cpu.millicores,
                usedMemoryBytes: used.memory.bytes, schedulable: node.schedulable,
                draining: node.schedulable ? nil : drainText(byName[node.name]))
        }
        return (apps, nodes)
    }

    /// Why a node takes no new work, in words.
    static func drainText(_ spec: NodeSpec?) -> String {
        guard let spec else { return "draining" }
        guard let drain = spec.drain else { return "schedulable: false in git" }
        let deadline = drain.deadline.map { " (deadline \(ISO8601DateFormatter().string(from: $0)))" } ?? ""
        switch drain.cause {
        case .requested: return "drained" + deadline
        case .removedFromGit: return "removed from git; forgotten once nothing of ours runs there"
        }
    }

    /// Every observed replica, for the App and node pages.
    public static func replicas(_ observed: Observed) -> [ReplicaView] {
        observed.containers.map { container in
            let exitCode: Int? = if case .exited(let code, _) = container.status { code } else { nil }
            return ReplicaView(
                app: container.app, node: container.node, id: container.id, slot: container.slot,
                revision: container.specHash, ready: container.readySince != nil, exitCode: exitCode,
                startedAt: container.startedAt, restarts: container.restarts,
                outOfMemory: exitCode != nil && container.outOfMemory)
        }
    }
}
