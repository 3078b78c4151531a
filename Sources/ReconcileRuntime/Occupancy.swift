import ReconcileDrivers
import ReconcileModel

/// What a container takes of its node, the one definition both planners' ledger is built from: a
/// container occupies its node from its creation until it exits, at its workload's request (an App
/// replica at its App's, a task at its task's; the default request when it is no longer in git).
struct Occupancy: Sendable {
    private let tasks: [String: [String: Resources]]
    private let apps: [String: Resources]

    init(_ desired: DesiredState) {
        var tasks: [String: [String: Resources]] = [:]
        for dag in desired.dags {
            tasks[dag.name] = Dictionary(dag.tasks.map { ($0.name, $0.resources) }, uniquingKeysWith: { a, _ in a })
        }
        self.tasks = tasks
        apps = Dictionary(desired.apps.map { ($0.name, $0.resources) }, uniquingKeysWith: { a, _ in a })
    }

    /// True while the container holds its request.
    static func occupies(_ container: ContainerInfo) -> Bool { container.status != .exited }

    /// What the container holds now; nil when it holds nothing (exited, or not this project's).
    func of(_ container: ContainerInfo) -> Resources? {
        guard Self.occupies(container) else { return nil }
        if let task = task(of: container) { return task }
        return container.labels[OwnershipLabels.app].map { apps[$0] ?? .defaultRequest }
    }

    /// A task container's request whatever its state; nil for a container that is not a task's.
    func task(of container: ContainerInfo) -> Resources? {
        guard let dag = container.labels[DAGRunner.dagLabel], let task = container.labels[DAGRunner.taskLabel] else {
            return nil
        }
        return tasks[dag]?[task] ?? .defaultRequest
    }
}
