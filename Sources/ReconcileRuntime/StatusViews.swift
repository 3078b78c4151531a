import ReconcileAPI
import ReconcileModel
import ReconcilePlanner

/// Apps and nodes as `reconcile status` and the API show them, from one observation.
public enum StatusViews {
    public static func make(state: DesiredState, observed: Observed) -> (apps: [AppView], nodes: [NodeView]) {
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
                usedMemoryBytes: used.memory.bytes)
        }
        return (apps, nodes)
    }

    /// Every observed replica, for the App and node pages.
    public static func replicas(_ observed: Observed) -> [ReplicaView] {
        observed.containers.map { container in
            let exitCode: Int? = if case .exited(let code, _) = container.status { code } else { nil }
            return ReplicaView(
                app: container.app, node: container.node, id: container.id, slot: container.slot,
                revision: container.specHash, ready: container.readySince != nil, exitCode: exitCode,
                startedAt: container.startedAt, restarts: container.restarts)
        }
    }
}
