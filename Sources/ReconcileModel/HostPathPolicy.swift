/// Which node folders a `hostPath:` volume may not mount unless the Node allows it
/// (`allowHostPath: true`): the root, the Docker socket (or a folder holding it) and the
/// controller's state directory (or a folder holding it). Validation asks without the state
/// directory (it is a controller flag); every start asks again with it.
public enum HostPathPolicy {
    public static let dockerSockets = ["/var/run/docker.sock", "/run/docker.sock"]

    /// Why mounting `path` is dangerous, or nil.
    public static func danger(_ path: String, stateDirectory: String?) -> String? {
        if path == "/" { return "is the node's root" }
        func holds(_ protected: String) -> Bool { protected == path || protected.hasPrefix(path + "/") }
        if let socket = dockerSockets.first(where: holds) {
            return socket == path ? "is the Docker socket" : "holds the Docker socket (\(socket))"
        }
        if let stateDirectory {
            let state = stateDirectory.hasSuffix("/") ? String(stateDirectory.dropLast()) : stateDirectory
            if holds(state) || path.hasPrefix(state + "/") { return "is in or holds the controller's state directory" }
        }
        return nil
    }
}
