/// A volume mounted into an App's or task's containers (`volumes:`).
public struct VolumeMount: Sendable, Hashable, Codable {
    public enum Source: Sendable, Hashable, Codable {
        /// A `Volume` of the repository (or a DAG's run-scoped volume): it lives on one node.
        case named(String)
        /// A folder of the node's own file system.
        case hostPath(String)
    }

    public var source: Source
    /// Absolute path inside the container (on a process node: under the process's `$FILES`).
    public var mount: String
    public var readOnly: Bool

    public init(source: Source, mount: String, readOnly: Bool = false) {
        self.source = source
        self.mount = mount
        self.readOnly = readOnly
    }

    /// The named volume's name, if it is one.
    public var volumeName: String? {
        if case .named(let name) = source { return name }
        return nil
    }
}
