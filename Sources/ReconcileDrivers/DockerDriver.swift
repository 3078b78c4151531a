import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import ReconcileModel
import ReconcileSecrets
import Synchronization

/// A node's Docker Engine, through its HTTP API over a unix socket or TCP (with TLS client
/// certificates). No `docker` CLI is involved.
public final class DockerDriver: ContainerDriver {
    public let node: String
    let baseURL: String
    let client: HTTPClient
    /// The client of the engine's event stream: no read timeout (a quiet engine sends nothing for
    /// as long as nothing happens; with the node's timeout the stream broke every 10 s of quiet).
    let streamClient: HTTPClient
    let timeout: TimeAmount
    /// The address the controller and other hosts dial the node's published ports at.
    let address: String
    /// The address published ports are bound to on the node (the address, or 0.0.0.0).
    let bindAddress: String
    private let version = VersionCache()
    private let logFiles = LogFileRoot()
    /// The last listing, with the generation of the engine's event stream and the count of this
    /// driver's own changes it was taken at: while neither moved, the engine would answer the same.
    private let lastListing = Mutex<Listing?>(nil)
    /// This driver's requests that change the engine (anything but GET), counted when answered: a
    /// change it made itself is in the next listing even before the stream reports it.
    private let changes = Atomic<Int>(0)
    /// Listings asked of the engine (not answered from the last one), for tests.
    let listingsTaken = Atomic<Int>(0)
    /// A listing is taken again at least this often, even with a live stream that heard nothing
    /// (a stream that stalls without breaking is noticed within this).
    static let listingMemory: TimeInterval = 60

    private struct Listing {
        var generation: Int
        var changes: Int
        var at: Date
        var containers: [ContainerInfo]
    }

    /// The newest API version this driver speaks; older engines down to `minimumAPIVersion` are used at theirs.
    static let preferredAPIVersion = (1, 43)
    static let minimumAPIVersion = (1, 40)

    /// - Parameters:
    ///   - endpoint: `unix:///var/run/docker.sock` or `tcp://host:port`.
    ///   - tls: client certificate, key and CA for a `tcp://` engine.
    ///   - timeout: how long a request may take before the node counts as unreachable.
    ///   - address: where published ports are dialled (the node's reach address).
    ///   - bindAddress: where they are bound on the node; default `address`.
    public init(
        node: String, endpoint: String, tls: NodeSpec.TLSFiles? = nil, timeout: Timespan = .seconds(10),
        address: String = "127.0.0.1", bindAddress: String? = nil
    ) throws {
        self.node = node
        self.timeout = .milliseconds(timeout.milliseconds)
        self.address = address
        self.bindAddress = bindAddress ?? address
        if endpoint.hasPrefix("unix://") {
            let path = String(endpoint.dropFirst("unix://".count))
            let encoded = path.addingPercentEncoding(
                withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))
            baseURL = "http+unix://" + (encoded ?? path)
            client = HTTPClient.shared
            streamClient = client
        } else if endpoint.hasPrefix("tcp://") {
            let hostPort = String(endpoint.dropFirst("tcp://".count))
            if let tls {
                baseURL = "https://" + hostPort
                client = try TLSClients.client(for: tls, timeout: self.timeout, node: node)
                streamClient = try TLSClients.client(for: tls, timeout: self.timeout, node: node, stream: true)
            } else {
                baseURL = "http://" + hostPort
                client = HTTPClient.shared
                streamClient = client
            }
        } else {
            throw DriverError(
                .invalidSpec, node: node, operation: "connect",
                message: "Docker endpoint \(endpoint) must start with unix:// or tcp://")
        }
    }

    /// The driver of a declared node: its endpoint and TLS files, its reach and bind addresses.
    public convenience init(_ spec: NodeSpec, publishAddress: String, timeout: Timespan = .seconds(10)) throws {
        guard case .docker(let endpoint, let tls) = spec.backend else {
            throw DriverError(.invalidSpec, node: spec.name, operation: "connect", message: "not a Docker node")
        }
        try self.init(
            node: spec.name, endpoint: endpoint, tls: tls, timeout: timeout,
            address: spec.reachAddress(publishAddress: publishAddress),
            bindAddress: spec.bindAddress(publishAddress: publishAddress))
    }

    /// Nothing to release: HTTP clients are shared (per TLS configuration, for the process's life).
    public func shutdown() async throws {}

    /// Exits pushed by the engine's event stream (shared by every driver of this engine).
    public func exitNotices() -> ExitNotices? {
        DockerEvents.stream(baseURL: baseURL, client: streamClient, node: node).notices
    }

    // MARK: ContainerDriver

    public func info() async throws -> NodeInfo {
        let api = try await apiVersion()
        let info = try await requestJSON(.GET, "/info", operation: "read engine info")
        let cpus = (info["NCPU"] as? Int) ?? 0
        let memory = (info["MemTotal"] as? Int64) ?? Int64((info["MemTotal"] as? Int) ?? 0)
        let server = (info["ServerVersion"] as? String) ?? "?"
        return NodeInfo(
            capacity: Resources(
                cpu: CPUQuantity(millicores: Int64(cpus) * 1000), memory: MemoryQuantity(bytes: memory)),
            engine: "docker \(server) (API \(api))")
    }

    /// Our containers on the engine. With the engine's event stream live, a listing is taken only
    /// when the stream heard a change (or this driver made one) since the last: an idle controller
    /// does not list its engines at every pass.
    public func list() async throws -> [ContainerInfo] {
        let events = DockerEvents.existing(baseURL: baseURL)
        // Read before the request: a change during it moves them, and the listing is not reused.
        let generation = events?.listingGeneration()
        let ownChanges = changes.load(ordering: .acquiring)
        if let generation,
            let last = lastListing.withLock({ $0 }), last.generation == generation, last.changes == ownChanges,
            Date().timeIntervalSince(last.at) < Self.listingMemory
        {
            return last.containers
        }
        let taken = Date()
        listingsTaken.add(1, ordering: .relaxed)
        let filter = #"{"label":["\#(ManagementLabel.key)=\#(ManagementLabel.value)"]}"#
        let query = "all=true&filters=" + Self.queryEncode(filter)
        let data = try await request(.GET, "/containers/json?" + query, operation: "list containers")
        guard let items = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw DriverError(.engine, node: node, operation: "list containers", message: "unexpected response")
        }
        var listed: [ContainerInfo] = items.map { item in
            let names = (item["Names"] as? [String]) ?? []
            var ports: [Int: Int] = [:]
            for port in (item["Ports"] as? [[String: Any]]) ?? [] {
                if let inside = port["PrivatePort"] as? Int, let outside = port["PublicPort"] as? Int {
                    ports[inside] = outside
                }
            }
            return ContainerInfo(
                id: (item["Id"] as? String) ?? "",
                name: names.first.map { String($0.drop(while: { $0 == "/" })) } ?? "",
                labels: (item["Labels"] as? [String: String]) ?? [:],
                status: Self.status(item["State"] as? String), ports: ports, hostAddress: address,
                createdAt: (item["Created"] as? Int).map { Date(timeIntervalSince1970: TimeInterval($0)) })
        }
        // A container the event stream saw die may still be listed running (the engine updates its
        // listing after the die event): asked about one by one (an inspect waits for the engine to
        // finish with it), so an exit the stream announced is seen by the listing that follows it.
        var complete = true
        if let events {
            let died = events.recentlyDied()
            var settled: [String] = []
            for index in listed.indices where died.contains(listed[index].id) {
                if listed[index].status != .exited {
                    // Not answered: asked again at the next listing.
                    guard let current = try? await inspect(listed[index].id) else {
                        complete = false
                        continue
                    }
                    listed[index].status = current.status
                }
                settled.append(listed[index].id)
            }
            let present = Set(listed.map(\.id))
            events.listed(present, settled: settled + died.filter { !present.contains($0) })
        }
        let kept = generation.flatMap { generation in
            complete ? Listing(generation: generation, changes: ownChanges, at: taken, containers: listed) : nil
        }
        lastListing.withLock { $0 = kept }
        return listed
    }

    public func run(_ spec: ContainerSpec) async throws -> ContainerInfo {
        let operation = "run container \(spec.name)"
        guard let image = spec.image else {
            throw DriverError(
                .invalidSpec, node: node, operation: operation, message: "a Docker node needs an image to run")
        }
        var labels = spec.labels
        labels[ManagementLabel.key] = ManagementLabel.value
        var exposed: [String: [String: String]] = [:]
        var bindings: [String: [[String: String]]] = [:]
        // Ports are published on the bridge (or a named network); with the host's network the
        // process binds them itself, and with none there is nothing to publish.
        let publishes = spec.network != .host && spec.network != .none
        let hostIP = publishes && !spec.ports.isEmpty ? try Self.resolve(bindAddress, node: node) : bindAddress
        for port in spec.ports {
            exposed["\(port)/tcp"] = [:]
            if publishes { bindings["\(port)/tcp"] = [["HostIp": hostIP, "HostPort": ""]] }
        }
        var hostConfig: [String: Any] = [
            // The engine refuses a quota under 1 ms per 100 ms period (10m); a smaller limit gets
            // that minimum, as the kubelet does.
            "NanoCpus": max(Self.minimumNanoCPUs, spec.resources.cpu.millicores * 1_000_000),
            "Memory": spec.resources.memory.bytes,
            "MemorySwap": spec.resources.memory.bytes,  // no swap beyond the limit
            "PortBindings": bindings,
            "RestartPolicy": ["Name": "no"],
        ]
        if !spec.mounts.isEmpty {
            var mounts: [[String: Any]] = []
            for mount in spec.mounts {
                switch mount.source {
                case .volume(let name):
                    let volume = try await createVolume(name, operation: operation)
                    mounts.append([
                        "Type": "volume", "Source": volume, "Target": mount.target, "ReadOnly": mount.readOnly,
                    ])
                case .hostPath(let path):
                    mounts.append(["Type": "bind", "Source": path, "Target": mount.target, "ReadOnly": mount.readOnly])
                }
            }
            hostConfig["Mounts"] = mounts
        }
        switch spec.network {
        case .bridge: hostConfig["NetworkMode"] = "bridge"
        case .none: hostConfig["NetworkMode"] = "none"
        case .host: hostConfig["NetworkMode"] = "host"
        case .named(let name): hostConfig["NetworkMode"] = name
        }
        var env = spec.env
        if spec.collectsOutputs { env["RECONCILE_OUTPUTS"] = TaskOutputs.containerPath }
        var body: [String: Any] = [
            "Image": image, "Labels": labels,
            "Env": env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            "ExposedPorts": exposed, "HostConfig": hostConfig,
        ]
        if let command = spec.command { body["Cmd"] = command }
        // Creating and starting are the engine's work, not a sign of life: a busy engine may take
        // longer than the node's timeout over them (a start runs `runc init` inside the container's
        // own CPU quota), and a start given up on is a task failed for nothing. They get a minute,
        // as a kubelet gives its runtime two; `info` still tells an unreachable node in `timeout`.
        let created = try await requestJSON(
            .POST, "/containers/create?name=" + Self.queryEncode(spec.name), body: body, operation: operation,
            extraTime: Self.engineWorkTime)
        guard let id = created["Id"] as? String else {
            throw DriverError(.engine, node: node, operation: operation, message: "the engine returned no container id")
        }
        do {
            var files = spec.files
            if spec.collectsOutputs {
                // An empty outputs file anyone may write: the image's user need not be root, and an
                // image without /tmp gets the folder (the engine creates it).
                files.append(ContainerFile(path: TaskOutputs.containerPath, content: Data(), mode: 0o666))
            }
            if !files.isEmpty {
                // Into the created container's file system, before its process exists: works on a
                // remote engine with no shared disk, and the process never sees a half-written file.
                _ = try await request(
                    .PUT, "/containers/\(id)/archive?path=/",
                    raw: (TarArchive.archive(files), "application/x-tar"),
                    operation: operation, extraTime: Self.engineWorkTime)
            }
            _ = try await request(
                .POST, "/containers/\(id)/start", operation: operation, extraTime: Self.engineWorkTime)
        } catch {
            // Never leave a container that was created but could not start.
            try? await remove(id)
            throw error
        }
        guard let info = try await inspect(id) else {
            throw DriverError(.notFound, node: node, operation: operation, message: "container vanished after start")
        }
        return info
    }

    /// `$RECONCILE_OUTPUTS` of a (stopped) container, read through the archive API like any file in it.
    public func outputs(_ id: String, limit: Int) async throws -> [UInt8]? {
        let archive: Data
        do {
            archive = try await request(
                .GET, "/containers/\(id)/archive?path=" + Self.queryEncode(TaskOutputs.containerPath),
                operation: "read outputs of \(id)")
        } catch let error as DriverError where error.kind == .notFound {
            return nil
        }
        // The file was put there empty: still empty is no outputs.
        guard let content = TarArchive.firstFile(in: archive), !content.isEmpty else { return nil }
        return Array(content.prefix(limit + 1))
    }

    /// The engine's name for a named volume; created (with the management label) when missing.
    private func createVolume(_ name: String, operation: String) async throws -> String {
        let volume = Self.volumeName(name)
        _ = try await requestJSON(
            .POST, "/volumes/create",
            body: ["Name": volume, "Labels": [ManagementLabel.key: ManagementLabel.value, Self.volumeLabel: name]],
            operation: operation)
        return volume
    }

    public func volumes() async throws -> [String] {
        let filter = #"{"label":["\#(Self.volumeLabel)"]}"#
        let json = try await requestJSON(
            .GET, "/volumes?filters=" + Self.queryEncode(filter), operation: "list volumes")
        let items = (json["Volumes"] as? [[String: Any]]) ?? []
        return items.compactMap { ($0["Labels"] as? [String: String])?[Self.volumeLabel] }.sorted()
    }

    public func removeVolume(_ name: String) async throws {
        do {
            _ = try await request(
                .DELETE, "/volumes/" + Self.queryEncode(Self.volumeName(name)), operation: "remove volume \(name)")
        } catch let error as DriverError where error.kind == .notFound {
            return
        }
    }

    /// On a local engine logging to json-file (the default), the marks of a container's log files,
    /// which the controller can `stat` (as root): an idle container then costs its log collection no
    /// request. Nil on a remote engine, another log driver, or files it cannot see (read each round).
    public func outputMark(_ id: String) async -> [Int64]? {
        guard baseURL.hasPrefix("http+unix://"), let root = await logFileRoot() else { return nil }
        let base = root + "/containers/" + id + "/" + id + "-json.log"
        let mark = FileMark.of([base + ".1", base])
        return mark.last == -1 ? nil : mark
    }

    /// The engine's `DockerRootDir` when it logs to json-file, asked once.
    private func logFileRoot() async -> String? {
        if let known = await logFiles.root { return known }
        guard let info = try? await requestJSON(.GET, "/info", operation: "read engine info") else { return nil }
        let root = (info["LoggingDriver"] as? String) == "json-file" ? info["DockerRootDir"] as? String : nil
        await logFiles.set(root)
        return root
    }

    /// A running container's inspect, read once while the engine's event stream is live and has
    /// not heard it die or change (for at most `DockerEvents.runningMemory`); anything else is
    /// inspected. A quiet controller's pass then asks the engine nothing (see `list`).
    public func fullState(of listed: ContainerInfo) async throws -> ContainerInfo? {
        let events = DockerEvents.existing(baseURL: baseURL)
        if listed.status == .running, let known = events?.runningState(listed.id) { return known }
        let full = try await inspect(listed.id)
        if let events, let full { events.remember(full, id: listed.id) }
        return full
    }

    /// What a create or a start may take beyond the node's timeout.
    static let engineWorkTime: TimeAmount = .seconds(50)

    /// The smallest CPU limit the engine accepts: 10m.
    static let minimumNanoCPUs: Int64 = 10_000_000

    /// Docker volumes of named volumes are `reconcile-<name>`, labelled with the name.
    static func volumeName(_ name: String) -> String { "reconcile-" + name }
    static let volumeLabel = "io.reconcile.volume"

    public func stop(_ id: String, grace: Timespan) async throws {
        let seconds = max(0, Int((grace.milliseconds + 999) / 1000))
        do {
            _ = try await request(
                .POST, "/containers/\(id)/stop?t=\(seconds)", operation: "stop container \(id.prefix(12))",
                extraTime: .seconds(Int64(seconds)))
        } catch let error as DriverError where error.kind == .notFound {
            return
        }
    }

    public func remove(_ id: String) async throws {
        do {
            _ = try await request(
                .DELETE, "/containers/\(id)?force=true", operation: "remove container \(id.prefix(12))")
        } catch let error as DriverError where error.kind == .notFound {
            return
        } catch let error as DriverError where error.kind == .conflict && error.message.contains("already in progress")
        {
            return  // someone else is removing it: the outcome is the same
        }
    }

    public func inspect(_ id: String) async throws -> ContainerInfo? {
        let json: [String: Any]
        do {
            json = try await requestJSON(
                .GET, "/containers/\(id)/json", operation: "inspect container \(id.prefix(12))")
        } catch let error as DriverError where error.kind == .notFound {
            return nil
        }
        let state = (json["State"] as? [String: Any]) ?? [:]
        let config = (json["Config"] as? [String: Any]) ?? [:]
        let network = (json["NetworkSettings"] as? [String: Any]) ?? [:]
        var ports: [Int: Int] = [:]
        for (key, value) in (network["Ports"] as? [String: Any]) ?? [:] {
            guard let inside = Int(key.split(separator: "/").first ?? ""),
                let binding = (value as? [[String: String]])?.first, let outside = binding["HostPort"].flatMap(Int.init)
            else { continue }
            ports[inside] = outside
        }
        let hostConfig = (json["HostConfig"] as? [String: Any]) ?? [:]
        if (hostConfig["NetworkMode"] as? String) == "host" {
            // The process binds the node's own ports: each container port is its host port.
            for key in ((config["ExposedPorts"] as? [String: Any]) ?? [:]).keys {
                if let port = Int(key.split(separator: "/").first ?? "") { ports[port] = port }
            }
        }
        let status = Self.status(state["Status"] as? String)
        var oomKilled = (state["OOMKilled"] as? Bool) ?? false
        let exitCode = status == .exited ? state["ExitCode"] as? Int : nil
        if !oomKilled, exitCode == 137, let containerID = json["Id"] as? String {
            // The engine sets OOMKilled from containerd's OOM event, which can come after the exit; its event
            // log then still gets the "oom" event, so ask it (waiting a moment if the exit is recent). On
            // cgroup v1, containerd 1.6 drops the event altogether when the container's first process was
            // the one killed and its cgroup is deleted before the watcher reads it: such an exit is reported
            // as a plain 137 (SIGKILL), as Kubernetes on that engine reports it.
            oomKilled = await oomEventRecorded(
                containerID, startedAt: DockerTime.parse(state["StartedAt"] as? String),
                finishedAt: DockerTime.parse(state["FinishedAt"] as? String))
        }
        return ContainerInfo(
            id: (json["Id"] as? String) ?? id,
            name: String(((json["Name"] as? String) ?? "").drop(while: { $0 == "/" })),
            labels: (config["Labels"] as? [String: String]) ?? [:],
            status: status,
            exitCode: exitCode,
            startedAt: DockerTime.parse(state["StartedAt"] as? String),
            finishedAt: status == .exited ? DockerTime.parse(state["FinishedAt"] as? String) : nil,
            oomKilled: oomKilled,
            ports: ports, hostAddress: address, createdAt: DockerTime.parse(json["Created"] as? String))
    }

    /// True when the engine's event log has an "oom" event for the container since it started. For an
    /// exit less than two seconds old it waits for a late event until then; for an older one it reads
    /// the log as it is, without waiting.
    private func oomEventRecorded(_ id: String, startedAt: Date?, finishedAt: Date?) async -> Bool {
        let since = Int((startedAt ?? Date().addingTimeInterval(-3600)).timeIntervalSince1970) - 1
        let now = Date()
        let waitUntil = (finishedAt ?? now).addingTimeInterval(2)
        // Whole seconds: rounded up only when waiting, so an old exit's read returns at once.
        let until =
            waitUntil > now
            ? Int(waitUntil.timeIntervalSince1970.rounded(.up)) : Int(now.timeIntervalSince1970.rounded(.down))
        let filters = #"{"container":["\#(id)"],"event":["oom"]}"#
        let path = "/events?since=\(since)&until=\(until)&filters=" + Self.queryEncode(filters)
        guard let data = try? await request(.GET, path, operation: "read events of \(id.prefix(12))") else {
            return false
        }
        return data.split(separator: UInt8(ascii: "\n")).contains { line in
            ((try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])?["status"] as? String) == "oom"
        }
    }

    public func logs(_ id: String, since: Date?) async throws -> [LogLine] {
        var query = "stdout=true&stderr=true&timestamps=true"
        if let since { query += "&since=" + String(format: "%.9f", since.timeIntervalSince1970) }
        let data = try await request(
            .GET, "/containers/\(id)/logs?" + query, operation: "read logs of \(id.prefix(12))")
        return DockerLogStream.lines(from: data)
    }

    public func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int {
        let operation = "exec in \(id.prefix(12))"
        let created = try await requestJSON(
            .POST, "/containers/\(id)/exec", body: ["Cmd": command, "AttachStdout": false, "AttachStderr": false],
            operation: operation)
        guard let execID = created["Id"] as? String else {
            throw DriverError(.engine, node: node, operation: operation, message: "the engine returned no exec id")
        }
        // Detached: the engine runs it; its state (and exit code) is polled until it ends or time runs out.
        _ = try await request(
            .POST, "/exec/\(execID)/start", body: ["Detach": true, "Tty": false], operation: operation)
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while true {
            let state = try await requestJSON(.GET, "/exec/\(execID)/json", operation: operation)
            if (state["Running"] as? Bool) == false, let code = state["ExitCode"] as? Int { return code }
            guard Date() < deadline else {
                throw DriverError(
                    .engine, node: node, operation: operation, message: "still running after \(timeout) (timed out)")
            }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
    }

    public func hasImage(_ image: String) async throws -> Bool {
        do {
            _ = try await request(.GET, "/images/\(Self.pathEncode(image))/json", operation: "inspect image \(image)")
            return true
        } catch let error as DriverError where error.kind == .notFound {
            return false
        }
    }

    public func pull(_ image: String, auth: RegistryAuth?) async throws {
        let operation = "pull image \(image)"
        var name = image
        var tag = "latest"
        if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            name = String(image[..<colon])
            tag = String(image[image.index(after: colon)...])
        }
        var headers: [(String, String)] = []
        if let auth {
            let password: String
            do {
                password = try SecretReader.read(auth.password)
            } catch {
                throw DriverError(.invalidSpec, node: node, operation: operation, message: "\(error)")
            }
            let payload = ["username": auth.username, "password": password, "serveraddress": auth.server]
            let json = try JSONSerialization.data(withJSONObject: payload)
            headers.append(("X-Registry-Auth", json.base64EncodedString()))
        }
        // The engine answers 200 and reports failures inside its progress stream.
        let data = try await request(
            .POST, "/images/create?fromImage=\(Self.queryEncode(name))&tag=\(Self.queryEncode(tag))", headers: headers,
            operation: operation, extraTime: .minutes(10))
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let event = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let message = event["error"] as? String
            {
                throw DriverError(.engine, node: node, operation: operation, message: message)
            }
        }
    }

    public func networks() async throws -> Set<String>? {
        let data = try await request(.GET, "/networks", operation: "list networks")
        guard let items = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw DriverError(.engine, node: node, operation: "list networks", message: "unexpected response")
        }
        return Set(items.compactMap { $0["Name"] as? String })
    }

    /// An IP literal as it is; a DNS name resolved on the controller (the Engine API binds IPs only).
    static func resolve(_ host: String, node: String) throws -> String {
        if HostAddress.isIPLiteral(host) { return host }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
            throw DriverError(
                .invalidSpec, node: node, operation: "resolve \(host)",
                message: "the node's address \(host) does not resolve; set address: to an IP or a resolvable name")
        }
        defer { freeaddrinfo(result) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
            var ip = address.pointee.sin_addr
            _ = inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: HTTP

    private func apiVersion() async throws -> String {
        if let known = await version.value { return known }
        let json = try await requestJSON(.GET, "/version", versioned: false, operation: "negotiate API version")
        let server = (json["ApiVersion"] as? String) ?? "1.40"
        let parts = server.split(separator: ".").compactMap { Int($0) }
        let serverVersion = (parts.first ?? 1, parts.count > 1 ? parts[1] : 0)
        guard serverVersion >= Self.minimumAPIVersion else {
            throw DriverError(
                .engine, node: node, operation: "negotiate API version",
                message: "engine API \(server) is older than the oldest supported, 1.40; upgrade Docker")
        }
        let chosen = serverVersion < Self.preferredAPIVersion ? serverVersion : Self.preferredAPIVersion
        let text = "\(chosen.0).\(chosen.1)"
        await version.set(text)
        return text
    }

    private func requestJSON(
        _ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, versioned: Bool = true, operation: String,
        extraTime: TimeAmount = .zero
    ) async throws -> [String: Any] {
        let data = try await request(
            method, path, body: body, versioned: versioned, operation: operation, extraTime: extraTime)
        if data.isEmpty { return [:] }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DriverError(.engine, node: node, operation: operation, message: "unexpected response from the engine")
        }
        return json
    }

    /// One API call. Transport failures and timeouts become `.unreachable`; HTTP errors carry the
    /// engine's own message.
    private func request(
        _ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, raw: (Data, String)? = nil,
        headers: [(String, String)] = [], versioned: Bool = true, operation: String, extraTime: TimeAmount = .zero
    ) async throws -> Data {
        let prefix = versioned ? "/v" + (try await apiVersion()) : ""
        var request = HTTPClientRequest(url: baseURL + prefix + path)
        request.method = method
        request.headers.add(name: "Host", value: "docker")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            let data = try JSONSerialization.data(withJSONObject: body)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        } else if let (data, type) = raw {
            request.headers.add(name: "Content-Type", value: type)
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        // Answered or not, the engine may have changed: the next listing is taken again.
        defer { if method != .GET { changes.add(1, ordering: .releasing) } }
        let response: HTTPClientResponse
        let collected: ByteBuffer
        do {
            response = try await client.execute(request, timeout: timeout + extraTime)
            collected = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw DriverError(
                .unreachable, node: node, operation: operation,
                message: "the Docker engine did not answer (\(Self.describe(error)))")
        }
        let data = Data(collected.readableBytesView)
        switch response.status.code {
        case 200..<300, 304:
            return data
        default:
            let message =
                (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["message"] as? String
                ?? String(decoding: data, as: UTF8.self)
            let kind: DriverError.Kind =
                switch response.status.code {
                case 404: .notFound
                case 409: .conflict
                default: .engine
                }
            throw DriverError(kind, node: node, operation: operation, message: message)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }

    static func status(_ text: String?) -> ContainerInfo.Status {
        switch text {
        case "created": .created
        case "running", "restarting", "paused": .running
        case "exited", "dead": .exited
        default: .unknown
        }
    }

    static func queryEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? text
    }

    static func pathEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~:/"))) ?? text
    }
}

/// One HTTP client per set of TLS files (and their modification times, so rotated certificates
/// are read again), for the life of the process: drivers are rebuilt whenever the nodes change (a
/// commit, a drain), and a client per driver would have to be shut down by whoever drops it.
enum TLSClients {
    private static let clients = Mutex<[String: HTTPClient]>([:])

    /// `stream`: for a long-lived response that may be silent (the event stream): no read timeout.
    static func client(
        for tls: NodeSpec.TLSFiles, timeout: TimeAmount, node: String, stream: Bool = false
    ) throws -> HTTPClient {
        let stamps = [tls.ca, tls.cert, tls.key].map { path in
            let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
            return "\(path)@\(modified?.timeIntervalSince1970 ?? 0)"
        }
        let key = stamps.joined(separator: "\u{0}") + "\u{0}\(timeout.nanoseconds)" + (stream ? "\u{0}stream" : "")
        if let known = clients.withLock({ $0[key] }) { return known }
        var configuration = HTTPClient.Configuration()
        do {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(tls.cert).map { .certificate($0) }
            tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem))
            tlsConfiguration.trustRoots = .file(tls.ca)
            configuration.tlsConfiguration = tlsConfiguration
        } catch {
            throw DriverError(
                .invalidSpec, node: node, operation: "load TLS files",
                message: "cannot read the certificates or key (\(error)); check tls.ca, tls.cert and tls.key")
        }
        configuration.timeout = .init(connect: timeout, read: stream ? nil : timeout)
        return clients.withLock { clients in
            if let known = clients[key] { return known }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }
}

/// Where a local engine keeps its json-file logs: unknown until asked (nil inside: none).
actor LogFileRoot {
    private var value: String??
    var root: String?? { value }
    func set(_ root: String?) { value = .some(root) }
}

/// The negotiated API version, shared by concurrent calls.
actor VersionCache {
    var value: String?
    func set(_ version: String) { value = version }
}

/// Docker's RFC 3339 times with nanoseconds; the zero time (`0001-01-01T00:00:00Z`) is nil.
/// RFC 3339 times as Docker and the shim write them (`2026-12-01T12:00:00.123456789Z`, or with a
/// `+01:00` offset), parsed by hand: every collected log line carries one, and a formatter per line
/// (ICU underneath) held log ingest to about a thousand lines a second.
enum DockerTime {
    static func parse(_ text: String?) -> Date? {
        guard var text, !text.hasPrefix("0001-") else { return nil }
        return text.withUTF8 { parse(bytes: $0) }
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> Date? {
        let count = bytes.count
        guard count >= 20 else { return nil }
        func number(_ start: Int, _ length: Int) -> Int? {
            var value = 0
            for index in start..<start + length {
                let digit = Int(bytes[index]) - 48
                guard digit >= 0, digit <= 9 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard bytes[4] == 45, bytes[7] == 45, bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32,
            bytes[13] == 58, bytes[16] == 58,
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2),
            (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: month, year: year), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < count, bytes[index] == 46 {
            index += 1
            var scale = 0.1
            let start = index
            while index < count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < count else { return nil }
        var offset = 0
        switch bytes[index] {
        case 90, 122:  // Z, z
            index += 1
        case 43, 45:  // +HH:MM, -HH:MM
            guard index + 6 <= count, bytes[index + 3] == 58, let hours = number(index + 1, 2),
                let minutes = number(index + 4, 2), hours <= 23, minutes <= 59
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == 45 ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == count else { return nil }
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let whole = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(whole) + fraction)
    }
}

/// The multiplexed log stream of a container without a TTY: frames of an 8-byte header (stream,
/// 0, 0, 0, big-endian size) and payload; each line starts with its RFC 3339 timestamp.
enum DockerLogStream {
    /// The lines of a multiplexed log stream (8-byte frame headers: stream, size). A line may span
    /// frames, and frames of the two streams interleave: each stream's unfinished line is kept as
    /// bytes and decoded once it ends, so a long line or a frame of many lines costs its length
    /// (it was copied again for every line and every frame), and a character split between
    /// frames stays whole.
    static func lines(from data: Data) -> [LogLine] {
        var result: [LogLine] = []
        var partial: [LogLine.Stream: [UInt8]] = [:]
        var index = data.startIndex
        while index + 8 <= data.endIndex {
            let stream: LogLine.Stream = data[index] == 2 ? .stderr : .stdout
            let size =
                Int(data[index + 4]) << 24 | Int(data[index + 5]) << 16 | Int(data[index + 6]) << 8
                | Int(data[index + 7])
            let start = index + 8
            let end = min(start + size, data.endIndex)
            var pending = partial.removeValue(forKey: stream) ?? []
            var lineStart = start
            while let newline = data[lineStart..<end].firstIndex(of: 0x0A) {
                let line: String
                if pending.isEmpty {
                    line = String(decoding: data[lineStart..<newline], as: UTF8.self)
                } else {
                    pending.append(contentsOf: data[lineStart..<newline])
                    line = String(decoding: pending, as: UTF8.self)
                    pending.removeAll(keepingCapacity: true)
                }
                if let parsed = parse(line, stream: stream) { result.append(parsed) }
                lineStart = newline + 1
            }
            pending.append(contentsOf: data[lineStart..<end])
            if !pending.isEmpty { partial[stream] = pending }
            index = end
        }
        for stream in [LogLine.Stream.stdout, .stderr] {
            if let bytes = partial[stream], let line = parse(String(decoding: bytes, as: UTF8.self), stream: stream) {
                result.append(line)
            }
        }
        return result
    }

    static func parse(_ line: String, stream: LogLine.Stream) -> LogLine? {
        guard let space = line.firstIndex(of: " "), let time = DockerTime.parse(String(line[..<space])) else {
            return nil
        }
        return LogLine(time: time, stream: stream, text: String(line[line.index(after: space)...]))
    }
}
