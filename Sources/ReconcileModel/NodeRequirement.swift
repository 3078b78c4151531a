/// What a workload (an App replica or a DAG task) needs of a node before room is considered: the
/// node's kind (Docker nodes run images, process nodes run commands) and the labels it requires.
/// The one "can this node run it" predicate: validation, the placement ledger and `reconcile
/// explain` all ask it.
public struct NodeRequirement: Sendable, Hashable {
    /// The workload names an image (it can run on a Docker node).
    public var image: Bool
    /// The workload names a command (it can run on a process node).
    public var command: Bool
    /// Labels a node must carry, each with this value.
    public var labels: [String: String]
    /// A named Docker network the node must have (checked where the node's networks are known).
    public var network: String?
    /// The node that holds a named volume the workload mounts: it runs there or nowhere.
    public var volume: VolumePin?

    public struct VolumePin: Sendable, Hashable {
        public var volume: String
        public var node: String

        public init(volume: String, node: String) {
            self.volume = volume
            self.node = node
        }
    }

    public init(
        image: Bool, command: Bool, labels: [String: String] = [:], network: String? = nil, volume: VolumePin? = nil
    ) {
        self.image = image
        self.command = command
        self.labels = labels
        self.network = network
        self.volume = volume
    }

    /// Why a node of this name cannot run the workload because of where its volume lives, or nil.
    public func volumeRejection(node: String) -> String? {
        guard let volume, volume.node != node else { return nil }
        return "does not hold volume \(volume.volume) (its data lives on node \(volume.node))"
    }

    /// Why a node of this kind cannot run the workload at all, or nil when its kind fits.
    public func kindRejection(isProcessNode: Bool) -> String? {
        if isProcessNode {
            return command ? nil : "a process node runs commands, and this names only an image"
        }
        return image ? nil : "a Docker node runs images, and this names no image"
    }

    /// The first required label the node lacks, as `lacks label key=value`, or nil.
    public func labelRejection(labels nodeLabels: [String: String]) -> String? {
        // Asked for every replica and node a plan places: sorted (for a stable message) only when
        // some label is missing.
        guard labels.contains(where: { nodeLabels[$0.key] != $0.value }) else { return nil }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) where nodeLabels[key] != value {
            return "lacks label \(key)=\(value)"
        }
        return nil
    }

    /// Why the node cannot run the workload (its kind, then its labels), or nil when it can.
    public func rejection(isProcessNode: Bool, labels nodeLabels: [String: String]) -> String? {
        kindRejection(isProcessNode: isProcessNode) ?? labelRejection(labels: nodeLabels)
    }
}

extension AppSpec {
    public var requirement: NodeRequirement {
        NodeRequirement(
            image: image != nil, command: command != nil, labels: placement.require, network: network.requiredNetwork,
            volume: VolumeMount.pin(volumes))
    }
}

extension TaskSpec {
    public var requirement: NodeRequirement {
        NodeRequirement(
            image: image != nil, command: command != nil, network: network.requiredNetwork,
            volume: VolumeMount.pin(volumes))
    }
}

extension VolumeMount {
    /// The first mounted named volume that lives on a known node (validation makes them agree).
    static func pin(_ volumes: [VolumeMount]) -> NodeRequirement.VolumePin? {
        for volume in volumes {
            if let name = volume.volumeName, let node = volume.node {
                return NodeRequirement.VolumePin(volume: name, node: node)
            }
        }
        return nil
    }
}
