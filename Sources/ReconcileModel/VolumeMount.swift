/// A volume mounted into an App's or task's containers (`volumes:`).
public struct VolumeMount: Sendable, Hashable, Codable {
    public enum Source: Sendable, Hashable, Codable {
        /// A `Volume` of the repository (or a DAG's run-scoped volume): it lives on one node.
        case named(String)
        /// A folder of the node's own file system.
        case hostPath(String)
        /// A DAG's run-scoped volume: one per run, shared by the run's tasks.
        case run(String)
    }

    public var source: Source
    /// Absolute path inside the container (on a process node: under the process's `$FILES`).
    public var mount: String
    public var readOnly: Bool
    /// A named volume's node and whether replicas may share it, copied from its `Volume` when the
    /// commit is loaded (nil node: wherever the workload runs, as with one node).
    public var node: String?
    public var shared: Bool

    public init(source: Source, mount: String, readOnly: Bool = false, node: String? = nil, shared: Bool = false) {
        self.source = source
        self.mount = mount
        self.readOnly = readOnly
        self.node = node
        self.shared = shared
    }

    /// The named volume's name, if it is one.
    public var volumeName: String? {
        if case .named(let name) = source { return name }
        return nil
    }
}

extension TaskSpec {
    /// True when the task mounts one of its DAG's run-scoped volumes.
    public var mountsRunVolume: Bool {
        volumes.contains { if case .run = $0.source { true } else { false } }
    }
}

/// A DAG's `volumes:` entry: a volume that exists for one run (`scope: run`), created on the node
/// of the run's first task that mounts it, removed when the run succeeds (kept after a failure
/// for the rerun).
public struct RunVolumeSpec: Sendable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }

    /// The node's name for a run's volume: unique per DAG, run and volume, and a valid Docker
    /// volume name whatever the run id holds.
    public static func nodeName(dag: String, runID: String, volume: String) -> String {
        let hex = String(StableHash.fnv1a(runID), radix: 16)
        return "\(dag)-run-\(String(repeating: "0", count: 16 - hex.count) + hex)-\(volume)"
    }
}

extension AppSpec {
    /// True when the App mounts a named volume its replicas may not use at the same time.
    public var hasExclusiveVolume: Bool { volumes.contains { $0.volumeName != nil && !$0.shared } }

    /// The update strategy as rollouts apply it: with an exclusive volume the old replica stops
    /// before its replacement starts (maxSurge 0, maxUnavailable at least 1), so two processes never
    /// write the same files at once.
    public var effectiveUpdate: UpdateStrategy {
        guard hasExclusiveVolume else { return update }
        var update = self.update
        update.maxSurge = 0
        update.maxUnavailable = max(1, update.maxUnavailable)
        return update
    }
}
