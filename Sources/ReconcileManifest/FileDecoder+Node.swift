import ReconcileModel
import Yams

extension FileDecoder {
    func decodeNode(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        var backend: NodeSpec.Backend?
        if let endpoint = reader.string("docker"), let node = reader.value("docker") {
            if endpoint.hasPrefix("unix://") {
                if !endpoint.dropFirst("unix://".count).hasPrefix("/") {
                    context.error(
                        "unix socket \"\(endpoint)\" needs an absolute path: unix:///var/run/docker.sock", at: node)
                }
                if let tls = reader.keyNode("tls"), reader.has("tls") {
                    context.error(
                        "tls is only used with a tcp:// Docker endpoint; remove it for a unix socket", at: tls)
                }
                backend = .docker(endpoint: endpoint, tls: nil)
            } else if endpoint.hasPrefix("tcp://") {
                let hostPort = endpoint.dropFirst("tcp://".count)
                if let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]),
                    (1...65535).contains(port), colon != hostPort.startIndex
                {
                    var tls: NodeSpec.TLSFiles?
                    if let files = reader.object("tls"), let ca = files.string("ca"), let cert = files.string("cert"),
                        let key = files.string("key")
                    {
                        tls = NodeSpec.TLSFiles(ca: ca, cert: cert, key: key)
                    }
                    backend = .docker(endpoint: endpoint, tls: tls)
                } else {
                    context.error(
                        "Docker endpoint \"\(endpoint)\" needs a host and port, e.g. tcp://10.0.0.5:2376", at: node)
                }
            } else {
                context.error(
                    "Docker endpoint \"\(endpoint)\" must start with unix:// or tcp://, e.g. unix:///var/run/docker.sock",
                    at: node)
            }
        } else if reader.has("process") {
            _ = reader.object("process")  // reports keys inside process:, which takes none
            backend = .process
            if let tls = reader.keyNode("tls"), reader.has("tls") {
                context.error("tls only applies to Docker nodes", at: tls)
            }
        }
        var capacity: Resources?
        if let nested = reader.object("capacity") {
            let cpu = nested.cpu("cpu")
            let memory = nested.memory("memory")
            if nested.has("cpu") != nested.has("memory") {
                context.error(
                    "capacity needs both cpu and memory (or neither, to use what the engine reports)", at: nested.node)
            } else if let cpu, let memory {
                if cpu.millicores == 0 || memory.bytes == 0 {
                    context.error("capacity must be larger than zero", at: nested.node)
                }
                capacity = Resources(cpu: cpu, memory: memory)
            }
        }
        let labels = reader.stringMap("labels") ?? [:]
        let address = reader.string("address")
        if let address, let node = reader.value("address") {
            if !HostAddress.isValid(address) {
                context.error(
                    "address \"\(address)\" is not an IP address or DNS name; write the address the controller "
                        + "reaches this node at, e.g. 10.0.0.5 or node-b.internal", at: node)
            } else if address == "0.0.0.0" || address == "::" {
                context.error(
                    "address \(address) cannot be dialled; write the node's own address (use bindAll: true to "
                        + "publish ports on every interface)", at: node)
            }
        }
        let bindAll = reader.bool("bindAll") ?? false
        if bindAll, case .process? = backend, let node = reader.value("bindAll") {
            context.error(
                "bindAll only applies to Docker nodes (a process binds the address its command chooses)", at: node)
        }
        let schedulable = reader.bool("schedulable") ?? true
        let allowHostPath = reader.bool("allowHostPath") ?? false
        guard let name, let backend else { return }
        output.nodes.append(
            .init(
                spec: NodeSpec(
                    name: name, backend: backend, capacity: capacity, labels: labels, address: address,
                    bindAll: bindAll, schedulable: schedulable, allowHostPath: allowHostPath),
                document: reader.location, name: nameLocation))
    }

    func decodeRegistry(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let server = reader.string("server")
        if let server, let node = reader.value("server") {
            let host = server.split(separator: ":", maxSplits: 1).first.map(String.init) ?? server
            let port = server.split(separator: ":", maxSplits: 1).dropFirst().first
            if server.contains("/") || !HostAddress.isValid(host) || port.map({ Int($0) == nil }) ?? false {
                context.error(
                    "registry server \"\(server)\" must be a host and optional port as written in image names, "
                        + "e.g. registry.local:5000 (no scheme, no path)", at: node)
            }
        }
        let username = reader.string("username")
        let password = reader.secret("password")
        let ca = reader.string("ca")
        if let ca, let node = reader.value("ca"), !ca.hasPrefix("/") {
            context.error("ca must be an absolute path to a PEM file on the controller host", at: node)
        }
        guard let name, let server, let username, let password else { return }
        output.registries.append(
            .init(
                spec: RegistrySpec(name: name, server: server, username: username, password: password, ca: ca),
                document: reader.location, name: nameLocation))
    }
}

extension FileDecoder {
    func decodeVolume(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let node = reader.name("node")
        if let node, let value = reader.value("node") {
            reference(.node, node, at: value, from: "volume \(name ?? reader.rawName)")
        }
        let shared = reader.bool("shared") ?? false
        let reclaim = reader.enumeration("reclaim", as: VolumeSpec.Reclaim.self) ?? .retain
        guard let name else { return }
        output.volumes.append(
            .init(
                spec: VolumeSpec(name: name, node: node, shared: shared, reclaim: reclaim), document: reader.location,
                name: nameLocation))
    }
}
