import ReconcileModel
import Yams

extension FileDecoder {
    func decodeApp(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let label = "app \(name ?? reader.rawName)"
        let image = reader.string("image")
        let command = reader.stringList("command")
        if image == nil && command == nil && !reader.has("command") {
            context.error("App needs an image, a command, or both (command runs on process nodes)", at: reader.node)
        }
        let replicas = reader.int("replicas") ?? 1
        let resources = resources(reader)
        var ports: [PortSpec] = []
        var portNames: [String: SourceLocation] = [:]
        var containerPorts: [Int: SourceLocation] = [:]
        for portReader in reader.objectList("ports") ?? [] {
            guard let portName = portReader.name("name"), let container = portReader.int("container") else { continue }
            let here = portReader.value("name").map(context.location(of:)) ?? portReader.location
            if let first = portNames[portName] {
                context.error("port name \"\(portName)\" is used twice in this app (first at \(first))", at: here)
                continue
            }
            portNames[portName] = here
            if let first = containerPorts[container] {
                context.error(
                    "container port \(container) is listed twice in this app (first at \(first))",
                    at: portReader.value("container").map(context.location(of:)) ?? here)
            }
            containerPorts[container] = here
            let publish = portReader.int("publish")
            var port = PortSpec(name: portName, container: container, publish: publish)
            let routing = decodeRouting(portReader, into: &port)
            if let publish, let node = portReader.value("publish"), let name {
                output.publishedPorts.append(
                    .init(
                        port: publish, app: name, location: context.location(of: node), mode: port.mode,
                        hosts: routing.hosts, tls: port.tls != nil, redirectFrom: routing.redirect))
            }
            ports.append(port)
        }
        let health = reader.object("health").flatMap { decodeHealth($0, ports: ports) }
        var update = UpdateStrategy()
        if let nested = reader.object("update") {
            update.maxSurge = nested.int("maxSurge") ?? update.maxSurge
            update.maxUnavailable = nested.int("maxUnavailable") ?? update.maxUnavailable
            update.minReadyTime = nested.timespan("minReadyTime") ?? update.minReadyTime
            update.progressDeadline = nested.timespan("progressDeadline") ?? update.progressDeadline
            update.autoRollback = nested.bool("autoRollback") ?? update.autoRollback
            update.stopGracePeriod = nested.timespan("stopGracePeriod") ?? update.stopGracePeriod
            if update.maxSurge == 0 && update.maxUnavailable == 0 {
                context.error(
                    "maxSurge and maxUnavailable are both 0, so no rollout could make progress; allow at least one",
                    at: nested.value("maxSurge") ?? nested.value("maxUnavailable") ?? nested.node)
            }
            if update.progressDeadline.milliseconds == 0 {
                context.error("progressDeadline must be longer than 0s", at: nested.value("progressDeadline")!)
            }
        }
        var placement = Placement()
        if let nested = reader.object("placement") {
            placement.require = nested.stringMap("require") ?? [:]
            placement.spread = nested.bool("spread") ?? true
        }
        let restart = reader.enumeration("restart", as: RestartPolicy.self) ?? .always
        let alerts = reader.nameList("alerts") ?? []
        for (alert, node) in alerts { reference(.notifier, alert, at: node, from: "alerts of \(label)") }
        let env = reader.environment("env") ?? [:]
        let secretEnv = reader.secretEnvironment("secretEnv") ?? [:]
        for key in env.keys where secretEnv[key] != nil {
            context.error("\"\(key)\" is set in both env and secretEnv; keep one", at: reader.value("secretEnv")!)
        }
        let files = decodeFiles(reader, owner: label) ?? [:]
        let volumes = decodeVolumes(reader, owner: label) ?? [:]
        checkMountConflicts(files: files, volumes: volumes, owner: label)
        output.workloads.append(
            .init(
                description: label, resources: resources,
                resourcesLocation: reader.value("resources").map(context.location(of:)) ?? reader.location,
                hasImage: image != nil, hasCommand: command != nil, location: nameLocation,
                require: placement.require))
        guard let name else { return }
        let app = AppSpec(
            name: name, image: image, command: command, env: env, secretEnv: secretEnv, replicas: replicas,
            resources: resources, ports: ports, health: health, update: update, placement: placement,
            restart: restart, alerts: alerts.map(\.0), network: network(reader) ?? .bridge,
            pull: reader.enumeration("pull", as: PullPolicy.self) ?? .ifNotPresent, files: Self.ordered(files),
            volumes: Self.ordered(volumes), alertAfter: positiveTimespan(reader, "alertAfter") ?? .minutes(5),
            notifyOn: deployEvents(reader))
        output.apps.append(.init(spec: app, document: reader.location, name: nameLocation))
    }

    private func decodeHealth(_ reader: MappingReader, ports: [PortSpec]) -> HealthSpec? {
        var probe: HealthSpec.Probe?
        func port(_ nested: MappingReader) -> String? {
            guard let node = nested.value("port"), let text = nested.string("port") else { return nil }
            if let match = ports.first(where: { $0.name == text || String($0.container) == text }) { return match.name }
            let known =
                ports.isEmpty ? "the app declares no ports" : "ports: \(ports.map(\.name).joined(separator: ", "))"
            let hint = Suggestion.closest(to: text, among: ports.map(\.name)).map { " (did you mean \"\($0)\"?)" } ?? ""
            context.error("health check port \"\(text)\" is not a port of this app\(hint); \(known)", at: node)
            return nil
        }
        if let http = reader.object("http") {
            let path = http.string("path") ?? "/"
            if !path.hasPrefix("/"), let node = http.value("path") {
                context.error("health check path must start with /", at: node)
            }
            if let name = port(http) { probe = .http(port: name, path: path, expect: http.int("expect") ?? 200) }
        } else if let tcp = reader.object("tcp") {
            if let name = port(tcp) { probe = .tcp(port: name) }
        } else if let command = reader.stringList("command") {
            probe = .command(command)
        }
        let interval = reader.timespan("interval") ?? .seconds(10)
        let timeout = reader.timespan("timeout") ?? .seconds(2)
        if interval.milliseconds == 0, let node = reader.value("interval") {
            context.error("health interval must be longer than 0s", at: node)
        }
        if timeout.milliseconds == 0, let node = reader.value("timeout") {
            context.error("health timeout must be longer than 0s", at: node)
        }
        guard let probe else { return nil }
        return HealthSpec(
            probe: probe, interval: interval, timeout: timeout,
            failureThreshold: reader.int("failureThreshold") ?? 3, startPeriod: reader.timespan("startPeriod") ?? .zero)
    }
}

extension FileDecoder {
    /// A port's router settings: `protocol`, and the HTTP-only `hosts`, `tls` and `accessLog`.
    /// Returns where each host and the redirect port are written, for the repository's checks.
    func decodeRouting(
        _ reader: MappingReader, into port: inout PortSpec
    ) -> (
        hosts: [(name: String, location: SourceLocation)], redirect: (port: Int, location: SourceLocation)?
    ) {
        port.mode = reader.enumeration("protocol", as: PortProtocol.self) ?? .tcp
        for key in ["hosts", "tls", "accessLog"] where port.mode != .http {
            if let node = reader.value(key) {
                context.error(
                    "\(key) needs protocol: http on this port (the router reads requests only in http mode)", at: node)
            }
        }
        for key in ["hosts", "tls"] where port.publish == nil {
            if let node = reader.value(key) {
                context.error("\(key) applies to a published port; add publish: PORT", at: node)
            }
        }
        var hosts: [(name: String, location: SourceLocation)] = []
        for item in reader.sequence("hosts") ?? [] {
            guard case .scalar(let scalar) = item else {
                context.error("items of \"hosts\" must be host names, found \(item.shapeDescription)", at: item)
                continue
            }
            let host = scalar.string.lowercased()
            if !HostAddress.isValid(host) {
                context.error(
                    "\"\(scalar.string)\" is not a host name; write a DNS name such as api.example.com (no scheme, port or path)",
                    at: item)
            } else if let first = hosts.first(where: { $0.name == host }) {
                context.error("host \"\(host)\" is listed twice on this port (first at \(first.location))", at: item)
            } else {
                hosts.append((host, context.location(of: item)))
                port.hosts.append(host)
            }
        }
        var redirect: (port: Int, location: SourceLocation)?
        if let tls = reader.object("tls"), let cert = tls.secret("cert"), let key = tls.secret("key") {
            port.tls = PortTLS(cert: cert, key: key, redirectFrom: tls.int("redirectFrom"))
            if let from = port.tls?.redirectFrom, let node = tls.value("redirectFrom") {
                if from == port.publish {
                    context.error(
                        "redirectFrom \(from) is this port's own published port; name the plain HTTP port (e.g. 80)",
                        at: node)
                } else {
                    redirect = (from, context.location(of: node))
                }
            }
        }
        port.accessLog = reader.bool("accessLog") ?? false
        return (hosts, redirect)
    }

    /// `notifyOn: [deployed, rolledBack]`.
    func deployEvents(_ reader: MappingReader) -> [DeployEvent] {
        guard let items = reader.sequence("notifyOn") else { return [] }
        var events: [DeployEvent] = []
        for node in items {
            let word = node.scalar?.string ?? ""
            if let event = DeployEvent(rawValue: word) {
                if !events.contains(event) { events.append(event) }
            } else {
                let words = DeployEvent.allCases.map(\.rawValue)
                let hint = Suggestion.closest(to: word, among: words).map { " (did you mean \"\($0)\"?)" } ?? ""
                context.error(
                    "\"\(word)\" is not a deploy event\(hint); use one of: \(words.joined(separator: ", "))", at: node)
            }
        }
        return events
    }
}
