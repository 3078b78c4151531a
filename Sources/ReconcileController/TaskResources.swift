import ReconcileDrivers
import ReconcileModel

/// What a DAG task's container reserves, read from its labels and the task's manifest (the
/// default request when the task is no longer in git).
struct TaskResources: Sendable {
    private let byTask: [String: [String: Resources]]

    init(_ desired: DesiredState) {
        var byTask: [String: [String: Resources]] = [:]
        for dag in desired.dags {
            byTask[dag.name] = Dictionary(dag.tasks.map { ($0.name, $0.resources) }, uniquingKeysWith: { a, _ in a })
        }
        self.byTask = byTask
    }

    /// Nil for a container that is not a task's.
    func of(_ container: ContainerInfo) -> Resources? {
        guard let dag = container.labels[DAGRunner.dagLabel], let task = container.labels[DAGRunner.taskLabel] else {
            return nil
        }
        return byTask[dag]?[task] ?? .defaultRequest
    }
}
