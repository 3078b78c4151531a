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
        guard let name, let backend else { return }
        output.nodes.append(
            .init(
                spec: NodeSpec(name: name, backend: backend, capacity: capacity, labels: labels),
                document: reader.location, name: nameLocation))
    }
}
