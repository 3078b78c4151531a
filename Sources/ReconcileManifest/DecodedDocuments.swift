import ReconcileModel

/// What decoding one file yields: the specs, plus the places that the repository-wide checks
/// (references, ports, capacity) need to point at.
struct DecodedDocuments: Sendable {
    struct Named<Spec: Sendable>: Sendable {
        var spec: Spec
        var document: SourceLocation
        var name: SourceLocation
    }

    /// A name that must exist as a document of `kind`.
    struct Reference: Sendable {
        var kind: Kind
        var name: String
        var location: SourceLocation
        /// What refers, e.g. "alerts of app web".
        var from: String
    }

    /// Something that is placed on a node: an App or a DAG task.
    struct Workload: Sendable {
        var description: String
        var resources: Resources
        var resourcesLocation: SourceLocation
        var hasImage: Bool
        var hasCommand: Bool
        var location: SourceLocation
        var require: [String: String]
    }

    struct PublishedPort: Sendable {
        var port: Int
        var app: String
        var location: SourceLocation
        var mode: PortProtocol = .tcp
        /// The Host names claimed, each where it is written.
        var hosts: [(name: String, location: SourceLocation)] = []
        var tls = false
        /// A TLS port's redirect port, where it is written.
        var redirectFrom: (port: Int, location: SourceLocation)?
    }

    /// A repository file a `files:` entry reads (`from:`).
    struct RepositoryFile: Sendable {
        var path: String
        var location: SourceLocation
        /// What reads it, e.g. "file /etc/api.yaml of app api".
        var from: String
    }

    /// A `hostPath:` volume, checked against the Nodes (which may allow any path).
    struct HostPath: Sendable {
        var path: String
        var location: SourceLocation
        var from: String
    }

    var nodes: [Named<NodeSpec>] = []
    var apps: [Named<AppSpec>] = []
    var dags: [Named<DAGSpec>] = []
    var checks: [Named<CheckSpec>] = []
    var notifiers: [Named<NotifierSpec>] = []
    var registries: [Named<RegistrySpec>] = []
    var references: [Reference] = []
    /// `task: DAG/TASK` of checks: the task must be one of the DAG's.
    var taskReferences: [TaskReference] = []
    var workloads: [Workload] = []
    var publishedPorts: [PublishedPort] = []
    var repositoryFiles: [RepositoryFile] = []
    var hostPaths: [HostPath] = []
    var volumes: [Named<VolumeSpec>] = []
    var silences: [Named<SilenceSpec>] = []
    var pools: [Named<PoolSpec>] = []
    /// `schedule: {after: [...]}` edges, checked for cycles across DAGs.
    var dagEdges: [DAGEdge] = []
    var diagnostics: [Diagnostic] = []

    mutating func append(_ other: DecodedDocuments) {
        nodes += other.nodes
        apps += other.apps
        dags += other.dags
        checks += other.checks
        notifiers += other.notifiers
        registries += other.registries
        silences += other.silences
        pools += other.pools
        dagEdges += other.dagEdges
        references += other.references
        taskReferences += other.taskReferences
        workloads += other.workloads
        publishedPorts += other.publishedPorts
        repositoryFiles += other.repositoryFiles
        hostPaths += other.hostPaths
        volumes += other.volumes
        diagnostics += other.diagnostics
    }
}

/// A check's `task: DAG/TASK`, checked once every DAG is known.
struct TaskReference {
    var dag: String
    var task: String
    var location: SourceLocation
    var from: String
}

/// A DAG that runs after another one (`schedule: {after: [upstream]}`).
struct DAGEdge {
    var dag: String
    var upstream: String
    var location: SourceLocation
}
