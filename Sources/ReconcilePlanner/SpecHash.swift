import ReconcileModel

/// A stable identity of what an App's containers run: anything that needs a new container changes
/// it (image, command, environment, secret references, resources, ports, network, files with their
/// content, volumes); replicas, placement,
/// alerts and the update strategy do not.
public enum SpecHash {
    public static func of(_ app: AppSpec) -> String {
        var text = "image=\(app.image ?? "")\u{1}command=\((app.command ?? []).joined(separator: "\u{2}"))\u{1}"
        for (key, value) in app.env.sorted(by: { $0.key < $1.key }) { text += "env:\(key)=\(value)\u{1}" }
        for (key, value) in app.secretEnv.sorted(by: { $0.key < $1.key }) { text += "secret:\(key)=\(value)\u{1}" }
        text += "cpu=\(app.resources.cpu.millicores)\u{1}memory=\(app.resources.memory.bytes)\u{1}"
        for port in app.ports { text += "port:\(port.name)=\(port.container)\u{1}" }
        // Only when not the default, so Apps declared before `network:` existed keep their hash.
        if app.network != .bridge { text += "network=\(app.network)\u{1}" }
        for file in app.files { text += "file:\(file.path)=\(file.identity)\u{1}" }
        for volume in app.volumes {
            text += "volume:\(volume.mount)=\(volume.source)\(volume.readOnly ? ",ro" : "")\u{1}"
        }
        let hex = String(StableHash.fnv1a(text), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
