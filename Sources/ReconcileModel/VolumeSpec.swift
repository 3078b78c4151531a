/// A named volume: data that lives on one node and outlives every container that mounts it.
public struct VolumeSpec: Sendable, Hashable, Codable {
    /// What happens to the data when the Volume is removed from git.
    public enum Reclaim: String, Sendable, Hashable, Codable, CaseIterable {
        /// Kept on the node (the default): removing a manifest never deletes data.
        case retain
        /// Deleted once no container uses it.
        case delete
    }

    public var name: String
    /// The node that holds the data; nil: the only node there is.
    public var node: String?
    /// True when replicas of one App may use it at the same time (the application coordinates its
    /// writers): a rolling update then starts the new replica before stopping the old one.
    public var shared: Bool
    public var reclaim: Reclaim

    public init(name: String, node: String? = nil, shared: Bool = false, reclaim: Reclaim = .retain) {
        self.name = name
        self.node = node
        self.shared = shared
        self.reclaim = reclaim
    }
}
