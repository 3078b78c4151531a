/// The labels that tie a container to an App replica or a DAG task attempt. Containers without
/// them are not ours.
public enum OwnershipLabels {
    public static let app = "io.reconcile.app"
    public static let slot = "io.reconcile.slot"
    public static let spec = "io.reconcile.spec"
    public static let revision = "io.reconcile.revision"
    /// Crash restarts of the slot before this container, for the crash-loop backoff.
    public static let restarts = "io.reconcile.restarts"

    /// The labels of a DAG task's container.
    public static let dag = "io.reconcile.dag"
    public static let run = "io.reconcile.run"
    public static let task = "io.reconcile.task"
    public static let tryNumber = "io.reconcile.try"
}
