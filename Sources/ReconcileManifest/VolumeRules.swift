import ReconcileModel

/// Named volumes as workloads mount them: each mount learns its Volume's node and sharing, and a
/// workload whose volumes live on different nodes, or an App with several replicas on a volume that
/// is not shared, is refused.
enum VolumeRules {
    static func resolve(_ decoded: inout DecodedDocuments, into diagnostics: inout [Diagnostic]) {
        let volumes = Dictionary(decoded.volumes.map { ($0.spec.name, $0.spec) }, uniquingKeysWith: { a, _ in a })
        let onlyNode = decoded.nodes.count == 1 ? decoded.nodes[0].spec.name : nil
        func resolved(_ mounts: [VolumeMount]) -> [VolumeMount] {
            mounts.map { mount in
                guard let name = mount.volumeName, let volume = volumes[name] else { return mount }
                var resolved = mount
                resolved.node = volume.node ?? onlyNode
                resolved.shared = volume.shared
                return resolved
            }
        }
        func nodesProblem(_ mounts: [VolumeMount], owner: String) -> String? {
            let placed = mounts.compactMap { mount in mount.node.map { (mount.volumeName ?? "", $0) } }
            guard Set(placed.map(\.1)).count > 1 else { return nil }
            let list = placed.map { "\($0.0) on node \($0.1)" }.joined(separator: ", ")
            return "\(owner) mounts volumes that live on different nodes (\(list)); it can run on only one"
        }
        for index in decoded.apps.indices {
            let app = decoded.apps[index]
            let mounts = resolved(app.spec.volumes)
            decoded.apps[index].spec.volumes = mounts
            if let problem = nodesProblem(mounts, owner: "app \(app.spec.name)") {
                diagnostics.append(Diagnostic(at: app.name, problem))
            }
            if app.spec.replicas > 1, let exclusive = mounts.first(where: { $0.volumeName != nil && !$0.shared }) {
                diagnostics.append(
                    Diagnostic(
                        at: app.name,
                        "app \(app.spec.name) has \(app.spec.replicas) replicas and mounts volume "
                            + "\(exclusive.volumeName ?? "") at \(exclusive.mount), which is not shared: they would "
                            + "write the same files at once. Use replicas: 1, or set shared: true on the Volume "
                            + "if the application coordinates its writers"))
            }
        }
        for index in decoded.dags.indices {
            let dag = decoded.dags[index]
            for task in dag.spec.tasks.indices {
                let mounts = resolved(dag.spec.tasks[task].volumes)
                decoded.dags[index].spec.tasks[task].volumes = mounts
                let owner = "task \(dag.spec.tasks[task].name) of dag \(dag.spec.name)"
                if let problem = nodesProblem(mounts, owner: owner) {
                    diagnostics.append(Diagnostic(at: dag.name, problem))
                }
            }
        }
    }
}
