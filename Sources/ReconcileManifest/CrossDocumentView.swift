import ReconcileModel

/// What the repository-wide rules and resolutions read of one file's documents, without places
/// (line and column). Two versions of a file with the same view are interchangeable for every
/// rule: the other files' checks and the resolved specs come out the same, so a commit that
/// changes only such fields (an image tag, an env value, a comment line above) can be assembled by
/// swapping the file's specs into the last assembly instead of checking every document again.
///
/// Every field a rule reads must be here; what is left out is what no rule reads:
/// - `RepositoryRules`: every document's name, the Nodes, a Registry's server, a DAG's task
///   names, the Volumes, and the lists decoding made for the rules (references, task references,
///   workloads, published ports, host paths, DAG edges);
/// - `RepositoryFileRules`: the `from:` paths, and the `files:` they fill;
/// - `VolumeRules`: the Volumes and Nodes, each App's and task's mounts, and whether an App that
///   mounts a named volume has more than one replica.
/// `ReuseTests` compares reused assemblies with full ones over random edits of every kind.
struct CrossDocumentView: Equatable {
    struct App: Equatable {
        var name: String
        /// More than one replica and a named volume: whether the volume may be shared is a rule's.
        var replicated: Bool
        var files: [FileSpec]
        var volumes: [VolumeMount]
    }

    struct Task: Equatable {
        var name: String
        var files: [FileSpec]
        var volumes: [VolumeMount]
    }

    struct DAG: Equatable {
        var name: String
        var tasks: [Task]
    }

    struct Reference: Equatable {
        var kind: Kind
        var name: String
        var from: String
    }

    struct TaskReference: Equatable {
        var dag: String
        var task: String
        var from: String
    }

    struct Workload: Equatable {
        var description: String
        var resources: Resources
        var hasImage: Bool
        var hasCommand: Bool
        var require: [String: String]
    }

    struct Port: Equatable {
        var port: Int
        var app: String
        var mode: PortProtocol
        var hosts: [String]
        var tls: Bool
        var redirectFrom: Int?
    }

    struct Path: Equatable {
        var path: String
        var from: String
    }

    struct Edge: Equatable {
        var dag: String
        var upstream: String
    }

    var nodes: [NodeSpec]
    var apps: [App]
    var dags: [DAG]
    var checks: [String]
    var notifiers: [String]
    var registries: [[String]]
    var volumes: [VolumeSpec]
    var silences: [String]
    var pools: [String]
    var references: [Reference]
    var taskReferences: [TaskReference]
    var workloads: [Workload]
    var publishedPorts: [Port]
    var repositoryFiles: [Path]
    var hostPaths: [Path]
    var dagEdges: [Edge]

    init(_ documents: DecodedDocuments) {
        nodes = documents.nodes.map(\.spec)
        apps = documents.apps.map {
            App(
                name: $0.spec.name,
                replicated: $0.spec.replicas > 1 && $0.spec.volumes.contains { $0.volumeName != nil },
                files: $0.spec.files, volumes: $0.spec.volumes)
        }
        dags = documents.dags.map {
            DAG(
                name: $0.spec.name,
                tasks: $0.spec.tasks.map { Task(name: $0.name, files: $0.files, volumes: $0.volumes) })
        }
        checks = documents.checks.map(\.spec.name)
        notifiers = documents.notifiers.map(\.spec.name)
        registries = documents.registries.map { [$0.spec.name, $0.spec.server] }
        volumes = documents.volumes.map(\.spec)
        silences = documents.silences.map(\.spec.name)
        pools = documents.pools.map(\.spec.name)
        references = documents.references.map { Reference(kind: $0.kind, name: $0.name, from: $0.from) }
        taskReferences = documents.taskReferences.map { TaskReference(dag: $0.dag, task: $0.task, from: $0.from) }
        workloads = documents.workloads.map {
            Workload(
                description: $0.description, resources: $0.resources, hasImage: $0.hasImage,
                hasCommand: $0.hasCommand, require: $0.require)
        }
        publishedPorts = documents.publishedPorts.map {
            Port(
                port: $0.port, app: $0.app, mode: $0.mode, hosts: $0.hosts.map(\.name), tls: $0.tls,
                redirectFrom: $0.redirectFrom?.port)
        }
        repositoryFiles = documents.repositoryFiles.map { Path(path: $0.path, from: $0.from) }
        hostPaths = documents.hostPaths.map { Path(path: $0.path, from: $0.from) }
        dagEdges = documents.dagEdges.map { Edge(dag: $0.dag, upstream: $0.upstream) }
    }
}
