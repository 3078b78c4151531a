import ReconcileModel

/// The checks that need the whole repository: unique names, references, published ports, and whether
/// each App and task fits on and can run on some declared node.
enum RepositoryRules {
    static func check(_ decoded: DecodedDocuments, stateDirectory: String?, into diagnostics: inout [Diagnostic]) {
        var names: [Kind: [String: SourceLocation]] = [:]
        func register(_ kind: Kind, _ name: String, at location: SourceLocation) {
            if let first = names[kind]?[name] {
                diagnostics.append(
                    Diagnostic(
                        at: location,
                        "duplicate \(kind.rawValue) name \"\(name)\": already defined at \(first); names are unique per kind"
                    ))
            } else {
                names[kind, default: [:]][name] = location
            }
        }
        for item in decoded.nodes { register(.node, item.spec.name, at: item.name) }
        for item in decoded.apps { register(.app, item.spec.name, at: item.name) }
        for item in decoded.dags { register(.dag, item.spec.name, at: item.name) }
        for item in decoded.checks { register(.check, item.spec.name, at: item.name) }
        for item in decoded.notifiers { register(.notifier, item.spec.name, at: item.name) }
        for item in decoded.registries { register(.registry, item.spec.name, at: item.name) }
        for item in decoded.volumes { register(.volume, item.spec.name, at: item.name) }
        for item in decoded.silences { register(.silence, item.spec.name, at: item.name) }
        for item in decoded.pools { register(.pool, item.spec.name, at: item.name) }
        // One Registry per server: which credentials an image gets must not depend on file order.
        var servers: [String: SourceLocation] = [:]
        for item in decoded.registries {
            if let first = servers[item.spec.server] {
                diagnostics.append(
                    Diagnostic(
                        at: item.name,
                        "registry server \"\(item.spec.server)\" is already declared at \(first); keep one Registry per server"
                    ))
            } else {
                servers[item.spec.server] = item.name
            }
        }

        for reference in decoded.references where names[reference.kind]?[reference.name] == nil {
            let candidates = Array((names[reference.kind] ?? [:]).keys).sorted()
            let hint =
                Suggestion.closest(to: reference.name, among: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
            let known = candidates.isEmpty ? "none is defined" : "defined: \(candidates.joined(separator: ", "))"
            diagnostics.append(
                Diagnostic(
                    at: reference.location,
                    "\(reference.from) names unknown \(reference.kind.rawValue) \"\(reference.name)\"\(hint); \(known)")
            )
        }

        let dags = Dictionary(decoded.dags.map { ($0.spec.name, $0.spec) }, uniquingKeysWith: { a, _ in a })
        for reference in decoded.taskReferences {
            guard let dag = dags[reference.dag], !dag.tasks.contains(where: { $0.name == reference.task }) else {
                continue
            }
            let names = dag.tasks.map(\.name).sorted()
            let hint = Suggestion.closest(to: reference.task, among: names).map { " (did you mean \"\($0)\"?)" } ?? ""
            diagnostics.append(
                Diagnostic(
                    at: reference.location,
                    "\(reference.from) names unknown task \"\(reference.task)\" of dag \(dag.name)\(hint); "
                        + "its tasks: \(names.joined(separator: ", "))"))
        }

        checkDAGCycles(decoded.dagEdges, into: &diagnostics)
        checkVolumes(decoded, stateDirectory: stateDirectory, into: &diagnostics)
        checkPublishedPorts(decoded.publishedPorts, into: &diagnostics)
        checkWorkloads(decoded, into: &diagnostics)
    }

    /// `schedule: {after: [...]}` across DAGs must not form a cycle (no DAG would ever run): reported
    /// once, at the edge that closes it, with the path.
    private static func checkDAGCycles(_ edges: [DAGEdge], into diagnostics: inout [Diagnostic]) {
        var upstream: [String: [String]] = [:]
        var order: [String] = []
        for edge in edges {
            if upstream[edge.dag] == nil { order.append(edge.dag) }
            upstream[edge.dag, default: []].append(edge.upstream)
        }
        guard let cycle = TaskGraph.firstCycle(order: order, upstream: upstream), cycle.count > 1 else { return }
        // The cycle runs upstream first: its last step is the edge cycle[n-1] after cycle[n-2].
        let closing =
            edges.first { $0.dag == cycle[cycle.count - 1] && $0.upstream == cycle[cycle.count - 2] } ?? edges[0]
        diagnostics.append(
            Diagnostic(
                at: closing.location,
                "DAGs run after each other in a cycle: \(cycle.joined(separator: " -> ")); none of them would ever start. "
                    + "Remove one of these schedule.after entries"))
    }

    /// A Volume names its node when there are several; a hostPath that would hand a container the
    /// node (/, a folder holding the Docker socket) needs a Node with `allowHostPath: true`.
    private static func checkVolumes(
        _ decoded: DecodedDocuments, stateDirectory: String?, into diagnostics: inout [Diagnostic]
    ) {
        if decoded.nodes.count > 1 {
            for item in decoded.volumes where item.spec.node == nil {
                diagnostics.append(
                    Diagnostic(
                        at: item.name,
                        "volume \(item.spec.name) needs node: (its data lives on one node, and "
                            + "\(decoded.nodes.count) Nodes are declared: \(decoded.nodes.map(\.spec.name).sorted().joined(separator: ", ")))"
                    ))
            }
        }
        let allowing = decoded.nodes.filter(\.spec.allowHostPath)
        for hostPath in decoded.hostPaths {
            guard let danger = HostPathPolicy.danger(hostPath.path, stateDirectory: stateDirectory), allowing.isEmpty
            else {
                continue
            }
            diagnostics.append(
                Diagnostic(
                    at: hostPath.location,
                    "hostPath \(hostPath.path) of \(hostPath.from) \(danger); a container that can write it controls "
                        + "the node. Mount a narrower folder, or set allowHostPath: true on the Node that may run it"))
        }
    }

    /// With declared nodes: a workload must be able to run on some node (image/command vs node kind,
    /// required labels) and its requests must fit the largest such node.
    private static func checkWorkloads(_ decoded: DecodedDocuments, into diagnostics: inout [Diagnostic]) {
        let nodes = decoded.nodes.map(\.spec)
        guard !nodes.isEmpty else { return }  // the implicit local node is chosen at run time
        // Workloads mostly share a few requirements: the nodes each admits, found once per requirement.
        var admitted: [NodeRequirement: (byKind: [NodeSpec], eligible: [NodeSpec])] = [:]
        for workload in decoded.workloads {
            let requirement = NodeRequirement(
                image: workload.hasImage, command: workload.hasCommand, labels: workload.require)
            let nodesFor =
                admitted[requirement]
                ?? {
                    let byKind = nodes.filter { requirement.kindRejection(isProcessNode: $0.isProcessNode) == nil }
                    let found = (byKind, byKind.filter { requirement.labelRejection(labels: $0.labels) == nil })
                    admitted[requirement] = found
                    return found
                }()
            let byKind = nodesFor.byKind
            if byKind.isEmpty {
                let message =
                    workload.hasImage
                    ? "\(workload.description) has an image but no command, so it needs a Docker node, and every Node is a process node; add a command or a Docker Node"
                    : "\(workload.description) has no image, so it runs only on process nodes, and no Node is a process node; add an image or a process Node"
                diagnostics.append(Diagnostic(at: workload.location, message))
                continue
            }
            let eligible = nodesFor.eligible
            if eligible.isEmpty {
                let wanted = workload.require.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                diagnostics.append(
                    Diagnostic(
                        at: workload.location,
                        "\(workload.description) requires node labels \(wanted.joined(separator: ", ")), and no Node that can run it has them"
                    ))
                continue
            }
            // Nodes without a declared capacity report theirs at run time; nothing to check here.
            guard eligible.allSatisfy({ $0.capacity != nil }) else { continue }
            let sized = eligible.map { ($0.name, $0.capacity!) }
            let largestCPU = sized.max { $0.1.cpu < $1.1.cpu }!
            let largestMemory = sized.max { $0.1.memory < $1.1.memory }!
            if workload.resources.cpu > largestCPU.1.cpu {
                diagnostics.append(
                    Diagnostic(
                        at: workload.resourcesLocation,
                        "\(workload.description) requests cpu \(workload.resources.cpu), more than any node that can run it has; "
                            + "the largest is \(largestCPU.0) with cpu \(largestCPU.1.cpu)"))
            }
            if workload.resources.memory > largestMemory.1.memory {
                diagnostics.append(
                    Diagnostic(
                        at: workload.resourcesLocation,
                        "\(workload.description) requests memory \(workload.resources.memory), more than any node that can run it has; "
                            + "the largest is \(largestMemory.0) with memory \(largestMemory.1.memory)"))
            }
            if workload.resources.cpu <= largestCPU.1.cpu && workload.resources.memory <= largestMemory.1.memory
                && !sized.contains(where: {
                    workload.resources.cpu <= $0.1.cpu && workload.resources.memory <= $0.1.memory
                })
            {
                diagnostics.append(
                    Diagnostic(
                        at: workload.resourcesLocation,
                        "\(workload.description) requests cpu \(workload.resources.cpu) and memory \(workload.resources.memory); "
                            + "no single node has both (\(sized.map { "\($0.0): cpu \($0.1.cpu), memory \($0.1.memory)" }.joined(separator: "; ")))"
                    ))
            }
        }
    }
}

extension RepositoryRules {
    /// A published port belongs to one App, unless every App on it speaks HTTP: then each Host name
    /// is claimed once, at most one App answers every other host, and TLS is all or nothing. A TLS
    /// port's `redirectFrom` port is plain HTTP and its hosts are not claimed there by another App.
    static func checkPublishedPorts(
        _ ports: [DecodedDocuments.PublishedPort], into diagnostics: inout [Diagnostic]
    ) {
        typealias Claim = (app: String, location: SourceLocation)
        var first: [Int: DecodedDocuments.PublishedPort] = [:]
        var hosts: [Int: [String: Claim]] = [:]
        var everyHost: [Int: Claim] = [:]
        let ordered = ports.sorted(by: { $0.location < $1.location })
        for port in ordered {
            if let owner = first[port.port] {
                let both = "port \(port.port) is already published by app \(owner.app) at \(owner.location)"
                if owner.mode != .http || port.mode != .http {
                    diagnostics.append(
                        Diagnostic(
                            at: port.location,
                            "\(both); only protocol: http ports can share a published port (told apart by hosts:)"))
                    continue
                }
                if owner.tls != port.tls {
                    diagnostics.append(
                        Diagnostic(
                            at: port.location,
                            "\(both) \(owner.tls ? "with" : "without") tls; every app on one port sets tls, or none does"
                        ))
                    continue
                }
            } else {
                first[port.port] = port
            }
            if port.hosts.isEmpty {
                if let owner = everyHost[port.port] {
                    diagnostics.append(
                        Diagnostic(
                            at: port.location,
                            "app \(owner.app) at \(owner.location) already answers every host on port \(port.port); "
                                + "give this one hosts: [NAME, ...]"))
                } else {
                    everyHost[port.port] = (port.app, port.location)
                }
            }
            for host in port.hosts {
                if let owner = hosts[port.port]?[host.name] {
                    diagnostics.append(
                        Diagnostic(
                            at: host.location,
                            "host \(host.name) on port \(port.port) is already claimed by app \(owner.app) at \(owner.location)"
                        ))
                } else {
                    hosts[port.port, default: [:]][host.name] = (port.app, host.location)
                }
            }
        }
        for port in ordered {
            guard let redirect = port.redirectFrom else { continue }
            if let owner = first[redirect.port], owner.mode != .http || owner.tls {
                diagnostics.append(
                    Diagnostic(
                        at: redirect.location,
                        "redirectFrom \(redirect.port): that port is published by app \(owner.app) at \(owner.location) "
                            + "as \(owner.tls ? "TLS" : "tcp"); redirects are served on a plain http port"))
                continue
            }
            let names = port.hosts.isEmpty ? [nil] : port.hosts.map { Optional($0.name) }
            for name in names {
                let owner = name.map { hosts[redirect.port]?[$0] } ?? everyHost[redirect.port]
                if let owner {
                    diagnostics.append(
                        Diagnostic(
                            at: redirect.location,
                            "redirectFrom \(redirect.port): \(name.map { "host \($0)" } ?? "every host") there is already "
                                + "claimed by app \(owner.app) at \(owner.location)"))
                } else if let name {
                    hosts[redirect.port, default: [:]][name] = (port.app, redirect.location)
                } else {
                    everyHost[redirect.port] = (port.app, redirect.location)
                }
            }
        }
    }
}
