/// When a node pulls a workload's image before starting it (`pull:`).
public enum PullPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Pull only when the node does not have the image (the default).
    case ifNotPresent
    /// Pull before every start (a moving tag such as `latest`).
    case always
    /// Never pull: the image must already be on the node.
    case never
}
