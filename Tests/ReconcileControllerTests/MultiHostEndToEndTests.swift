import AsyncHTTPClient
import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileRouter
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

/// Three hosts that are really apart (network namespaces, each with its own address and its own
/// dockerd on TCP with TLS), a private registry with a password, and the controller's loop — node
/// resolution (drains, nodes removed from git), the app pass and the DAG runner — run here as the
/// controller runs them.
@Suite(.serialized) struct MultiHostEndToEndTests {
    /// Runs alone among the heavy end-to-end tests (see HeavyTests).
    @Test(.timeLimit(.minutes(20))) func appsAndTasksRunAcrossHostsAndANodeIsDrainedAndRemoved() async throws {
        try await HeavyTests.exclusive { try await appsAndTasksRunAcrossHostsAlone() }
    }

    func appsAndTasksRunAcrossHostsAlone() async throws {
        let cluster = try await NamespaceCluster.start(hosts: 3)
        defer { cluster.shutdown() }
        let registry = try await Blocking.run {
            try TestRegistry(address: cluster.gateway, certificates: cluster.certificates)
        }
        defer { registry.shutdown() }
        let (web1, web2, etl1, etl2) = try await Blocking.run {
            try TestImage.ensure(on: "/var/run/docker.sock")
            return (
                try registry.push(TestImage.name, as: "web:1"), try registry.push(TestImage.second, as: "web:2"),
                try registry.push(TestImage.name, as: "etl:1"), try registry.push(TestImage.second, as: "etl:2")
            )
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("multihost-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let passwordFile = folder + "/registry-password"
        _ = FileManager.default.createFile(
            atPath: passwordFile, contents: Data(registry.password.utf8), attributes: [.posixPermissions: 0o600])
        let credentials = RegistrySpec(
            name: "private", server: registry.server, username: registry.username, password: .file(passwordFile))
        // The controller's own check of a Registry: with its CA the credentials are accepted; a
        // wrong password is refused; without the CA the registry's certificate is not trusted.
        var checked = credentials
        checked.ca = cluster.certificates.ca
        #expect(await RegistryLogin.check(checked) == .accepted)
        var wrong = checked
        wrong.password = try SecretReference(parsing: TestSecrets.file("wrong"))
        #expect(await RegistryLogin.check(wrong) == .refused(status: 401))
        if case .unreachable = await RegistryLogin.check(credentials) {
        } else {
            Issue.record("a registry whose CA was not given was trusted")
        }

        let capacity = Resources(cpu: CPUQuantity(millicores: 2000), memory: MemoryQuantity(bytes: 1 << 30))
        let nodes = cluster.hosts.map { host in
            // No address: it defaults to the host of the tcp:// endpoint, the namespace's own address.
            NodeSpec(
                name: host.name, backend: .docker(endpoint: host.endpoint, tls: cluster.tls), capacity: capacity)
        }
        let publish = try #require(HostPorts.freeLoopbackPort())
        let gateway = cluster.gateway
        let loop = try ClusterLoop(
            folder: folder, publishAddress: gateway,
            desired: DesiredState(
                nodes: nodes, apps: [hostnameApp(image: web1, publish: publish)], registries: [credentials]))
        defer { loop.abandon() }

        // 4 replicas over three hosts, pulled from the private registry, each ready and each
        // answering through the router's published port on the controller's address.
        #expect(try await loop.converged(image: web1, within: 180), "\(loop.lastPass())")
        let placed = try await loop.replicasByHost()
        #expect(placed.values.map(\.count).reduce(0, +) == 4, "\(placed)")
        #expect(placed.keys.count == 3, "replicas are not spread over the three hosts: \(placed.mapValues(\.count))")
        for (name, replicas) in placed {
            let host = try #require(cluster.hosts.first { $0.name == name })
            for replica in replicas {
                #expect(replica.hostAddress == host.address, "\(replica.name) is dialled at \(replica.hostAddress)")
            }
        }
        let answering = try await servedBodies(gateway: gateway, port: publish, requests: 40)
        let ids = Set(placed.values.flatMap { $0.map { String($0.id.prefix(12)) } })
        #expect(answering == ids, "answers through the published port came from \(answering), replicas are \(ids)")

        // A rolling update to a second private image under load: no request fails.
        let tally = RequestTally()
        var clients = startClients(gateway: gateway, port: publish, tally: tally)
        await loop.update { $0.apps = [hostnameApp(image: web2, publish: publish)] }
        #expect(try await loop.converged(image: web2, within: 180), "\(loop.lastPass())")
        clients.cancel()
        _ = await clients.value
        let update = await (tally.succeeded, tally.failures)
        #expect(update.1.isEmpty, "failed requests during the rolling update: \(update.1.prefix(5))")
        #expect(update.0 >= 20, "only \(update.0) requests went through during the update")

        // A DAG whose two tasks cannot share a host (1.5 cpu each on 2-cpu hosts): one fetches from
        // the App over HTTP through the router (outbound networking from a task container), the other
        // runs a private image.
        let fetch =
            "out=$(printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 10 \(gateway) \(publish)); "
            + "case \"$out\" in *'200 OK'*) echo fetched;; *) echo \"no answer: $out\"; exit 1;; esac; sleep 3"
        let big = Resources(cpu: CPUQuantity(millicores: 1500), memory: MemoryQuantity(bytes: 32 << 20))
        let pipeline = DAGSpec(
            name: "etl",
            tasks: [
                TaskSpec(name: "fetch", image: TestImage.name, command: ["/bin/sh", "-c", fetch], resources: big),
                TaskSpec(
                    name: "extract", image: etl1, command: ["/bin/sh", "-c", "cat /VERSION; sleep 3"], resources: big),
            ])
        await loop.update { $0.dags = [pipeline] }
        try loop.trigger("etl", id: "manual__1")
        let first = try await loop.finishedRun("etl", "manual__1", within: 120)
        let etlText = try loop.attemptText("etl", "manual__1")
        #expect(first?.state == .succeeded, "\(etlText)")
        let attempts = try loop.store.attempts(dag: "etl", runID: "manual__1")
        let hosts = Set(attempts.map(\.node))
        #expect(hosts.count == 2, "both tasks ran on \(hosts)")
        #expect(attempts.allSatisfy { $0.state == .succeeded }, "\(etlText)")

        // A run-scoped volume on remote hosts: the second task reads what the first wrote, on the
        // same host (no shared disk), and the volume is gone from that host's engine once the run
        // succeeded.
        let work = [VolumeMount(source: .run("work"), mount: "/work")]
        let small = Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 16 << 20))
        let handoff = DAGSpec(
            name: "handoff",
            tasks: [
                TaskSpec(
                    name: "produce", image: TestImage.name,
                    command: ["/bin/sh", "-c", "echo \"rows of $RUN_ID\" > /work/data.txt"], resources: small,
                    volumes: work),
                TaskSpec(
                    name: "consume", image: TestImage.name, command: ["/bin/sh", "-c", "cat /work/data.txt"],
                    after: ["produce"], resources: small, volumes: work),
            ], volumes: [RunVolumeSpec(name: "work")])
        await loop.update { $0.dags = [pipeline, handoff] }
        try loop.trigger("handoff", id: "manual__1")
        let handedOff = try await loop.finishedRun("handoff", "manual__1", within: 120)
        let handoffText = try loop.attemptText("handoff", "manual__1")
        #expect(handedOff?.state == .succeeded, "\(handoffText)")
        // The run is recorded as succeeded before its last attempt's output is saved (the same pass
        // saves it right after): wait for it.
        let saved = try await loop.until(within: 30) {
            try loop.store.attempts(dag: "handoff", runID: "manual__1").first { $0.task == "consume" }?.logPath != nil
        }
        #expect(saved)
        let handoffAttempts = try loop.store.attempts(dag: "handoff", runID: "manual__1")
        #expect(Set(handoffAttempts.map(\.node)).count == 1, "\(handoffAttempts.map(\.node))")
        let consumed = try handoffAttempts.first { $0.task == "consume" }?.logPath.map {
            try String(contentsOfFile: $0, encoding: .utf8)
        }
        #expect(consumed == "rows of manual__1\n")
        let volumeHost = try #require(cluster.hosts.first { $0.name == handoffAttempts.first?.node })
        let volumeEngine = try DockerDriver(node: volumeHost.name, endpoint: "unix://" + volumeHost.socket)
        let runVolume = RunVolumeSpec.nodeName(dag: "handoff", runID: "manual__1", volume: "work")
        let volumeGone = try await loop.until(within: 30) { try await !volumeEngine.volumes().contains(runVolume) }
        let volumesLeft = try await volumeEngine.volumes()
        #expect(volumeGone, "\(volumesLeft)")

        // A Docker network that exists on one host only: an App that names it is placed there (the
        // other engines' networks were read at plan time), and its container joins it. Its subnet is
        // outside the 10.251.2-250 range the fixtures allocate, so it never overlaps one of theirs.
        let lastHost = try #require(cluster.hosts.last)
        let created = try Command.run([
            "docker", "-H", "unix://" + lastHost.socket, "network", "create", "--subnet", "10.251.251.0/24", "etl",
        ])
        #expect(created.status == 0, "\(created.stderr)")
        var side = AppSpec(
            name: "side", image: TestImage.name, command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 16 << 20)))
        side.network = .named("etl")
        // A file from git, uploaded into the container on that remote host (no shared disk).
        side.files = [
            FileSpec(
                path: "/etc/side/config.txt", source: .repository(path: "side.txt", content: Data("from git\n".utf8)),
                mode: 0o640)
        ]
        await loop.update { $0.apps.append(side) }
        let sidePlaced = try await loop.until(within: 60) {
            let placed = try await loop.replicasByHost()
            return placed[lastHost.name, default: []].contains { $0.labels[OwnershipLabels.app] == "side" }
        }
        #expect(sidePlaced, "\(loop.lastPass())")
        let sideHosts = try await loop.replicasByHost().filter {
            $0.value.contains { $0.labels[OwnershipLabels.app] == "side" }
        }
        #expect(sideHosts.keys.sorted() == [lastHost.name])
        let joined = try Command.run([
            "docker", "-H", "unix://" + lastHost.socket, "network", "inspect", "etl", "--format",
            "{{range .Containers}}{{.Name}} {{end}}",
        ])
        #expect(joined.stdout.contains("side-0-"), "\(joined.stdout)")
        let sideContainer = try #require(
            try await loop.replicasByHost()[lastHost.name]?.first { $0.labels[OwnershipLabels.app] == "side" })
        let file = try Command.run([
            "docker", "-H", "unix://" + lastHost.socket, "exec", sideContainer.id, "/bin/sh", "-c",
            "cat /etc/side/config.txt; stat -c %a /etc/side/config.txt",
        ])
        #expect(file.stdout == "from git\n640\n", "\(file.stdout)\(file.stderr)")
        await loop.update { $0.apps.removeAll { $0.name == "side" } }
        let sideGone = try await loop.until(within: 60) {
            try await loop.replicasByHost().values.allSatisfy {
                !$0.contains { $0.labels[OwnershipLabels.app] == "side" }
            }
        }
        #expect(sideGone)

        // The wrong password: the attempt fails with the typed pull error naming the registry and
        // the node, after its retry; the run fails.
        try "not-the-password".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let denied = DAGSpec(
            name: "denied",
            tasks: [
                TaskSpec(
                    name: "extract", image: etl2, command: ["/bin/true"], retries: 1, retryDelay: .seconds(1),
                    resources: big)
            ])
        await loop.update { $0.dags = [pipeline, denied] }
        try loop.trigger("denied", id: "manual__1")
        let failed = try await loop.finishedRun("denied", "manual__1", within: 120)
        #expect(failed?.state == .failed)
        // The run's failure is what its dag/denied incident says: the registry and the node.
        let failure = failed?.failure ?? ""
        #expect(failure.contains("registry private") && failure.contains("on node host"), "\(failure)")
        #expect(failure.contains("unauthorized"), "\(failure)")
        let deniedAttempts = try loop.store.attempts(dag: "denied", runID: "manual__1")
        let deniedText = try loop.attemptText("denied", "manual__1")
        #expect(deniedAttempts.count == 2, "\(deniedText)")
        for attempt in deniedAttempts {
            guard case .pullFailed(let message)? = attempt.error else {
                Issue.record("attempt \(attempt.tryNumber): \(String(describing: attempt.error))")
                continue
            }
            #expect(message.contains(etl2) && message.contains("node \(attempt.node)"), "\(message)")
            #expect(message.contains("registry private"), "\(message)")
            #expect(!message.contains("not-the-password") && !message.contains(registry.password), "\(message)")
        }
        try registry.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)

        // Drain a host while a task runs there and clients keep asking: its replicas move (each
        // replacement ready before the old one stops), the task finishes where it is.
        let slow = DAGSpec(
            name: "slow",
            tasks: [
                TaskSpec(name: "long", image: TestImage.name, command: ["/bin/sh", "-c", "sleep 12; echo done"])
            ])
        await loop.update { $0.dags = [pipeline, denied, slow] }
        try loop.trigger("slow", id: "manual__1")
        var taskHost: String?
        let started = Date().addingTimeInterval(60)
        while taskHost == nil, Date() < started {
            taskHost = try loop.store.attempts(dag: "slow", runID: "manual__1").first { $0.state == .running }?.node
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let drained = try #require(taskHost, "the long task did not start")
        let drainTally = RequestTally()
        clients = startClients(gateway: gateway, port: publish, tally: drainTally)
        try loop.store.drainNode(drained, since: Date(), deadline: nil)
        let moved = try await loop.until(within: 120) {
            let placed = try await loop.replicasByHost()
            let idle = try loop.store.passes(limit: 1).first?.actions == 0
            return placed[drained, default: []].isEmpty && placed.values.map(\.count).reduce(0, +) == 4 && idle
        }
        #expect(moved, "replicas still on \(drained): \(loop.lastPass())")
        let slowRun = try await loop.finishedRun("slow", "manual__1", within: 60)
        #expect(slowRun?.state == .succeeded)
        let slowNodes = try loop.store.attempts(dag: "slow", runID: "manual__1").map(\.node)
        #expect(slowNodes == [drained])
        clients.cancel()
        _ = await clients.value
        let drain = await (drainTally.succeeded, drainTally.failures)
        #expect(drain.1.isEmpty, "failed requests during the drain: \(drain.1.prefix(5))")
        #expect(drain.0 >= 10, "only \(drain.0) requests went through during the drain")

        // Removing that Node from git: nothing of ours is left on it, and it is forgotten.
        try loop.store.uncordonNode(drained)
        await loop.update { $0.nodes.removeAll { $0.name == drained } }
        let host = try #require(cluster.hosts.first { $0.name == drained })
        let direct = try DockerDriver(node: drained, endpoint: "unix://" + host.socket)
        let forgotten = try await loop.until(within: 90) {
            let left = try await direct.list()
            let known = try loop.store.knownNodes()[drained] != nil
            return left.isEmpty && !known
        }
        let left = try await direct.list().map(\.name)
        #expect(forgotten, "containers left on \(drained): \(left)")
        let remaining = try await loop.replicasByHost().values.map(\.count).reduce(0, +)
        #expect(remaining == 4)

        await loop.finish()
        await registry.shutdownOffPool()
        await cluster.shutdownOffPool()
    }

    /// A busybox httpd App whose page is its own container id (the hostname), so each answer says
    /// which replica served it.
    func hostnameApp(image: String, publish: Int) -> AppSpec {
        AppSpec(
            name: "web", image: image,
            command: [
                "/bin/sh", "-c",
                "trap 'exit 0' TERM; mkdir -p /www; hostname > /www/index.html; /bin/httpd -f -p 8080 -h /www & wait",
            ],
            replicas: 4,
            resources: Resources(cpu: CPUQuantity(millicores: 200), memory: MemoryQuantity(bytes: 32 << 20)),
            ports: [PortSpec(name: "http", container: 8080, publish: publish, mode: .http)],
            health: HealthSpec(
                probe: .http(port: "http", path: "/index.html", expect: 200), interval: Timespan(milliseconds: 500),
                timeout: .seconds(3), failureThreshold: 3),
            update: UpdateStrategy(maxSurge: 1, maxUnavailable: 0, stopGracePeriod: .seconds(10)))
    }

    /// The bodies (replica ids) of `requests` GETs through the published port.
    func servedBodies(gateway: String, port: Int, requests: Int) async throws -> Set<String> {
        var bodies: Set<String> = []
        for _ in 0..<requests {
            var request = HTTPClientRequest(url: "http://\(gateway):\(port)/index.html")
            request.headers.add(name: "Connection", value: "close")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
            bodies.insert(body.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return bodies
    }

    func startClients(gateway: String, port: Int, tally: RequestTally) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        await sendRequests(
                            port: port, tally: tally, host: gateway, path: "/index.html", pause: 50_000_000)
                    }
                }
            }
        }
    }
}

/// The controller's loop over a desired state the test changes like commits would: every 300 ms
/// the nodes are resolved (drains, nodes removed from git) as the controller does, the pass and the
/// DAG runner are rebuilt when they change, an app pass runs, then a DAG step.
final class ClusterLoop: @unchecked Sendable {
    let store: Store
    let router: Router
    let folder: String
    private let state: Locked<DesiredState>
    private let current = Locked<Pass?>(nil)
    private var task: Task<Void, Never>?

    init(folder: String, publishAddress: String, desired: DesiredState) throws {
        self.folder = folder
        store = try Store(stateDirectory: folder)
        router = Router(address: publishAddress)
        state = Locked(desired)
        let (store, router, state, current) = (store, router, state, current)
        task = Task {
            var built: [NodeSpec]?
            var reconciler: Reconciler?
            var runner: DAGRunner?
            while !Task.isCancelled {
                let desired = state.get()
                if let resolved = try? ClusterNodes.resolve(declared: desired.nodes, store: store, now: Date()) {
                    if built != resolved.all {
                        var withDrains = desired
                        withDrains.nodes = resolved.declared
                        if let (pass, _) = try? await Pass.forState(
                            withDrains, retired: resolved.retired, stateDirectory: folder,
                            publishAddress: publishAddress, router: router)
                        {
                            reconciler = Reconciler(pass: pass, store: store)
                            runner = DAGRunner(
                                nodes: pass.nodes, drivers: pass.drivers, store: store, stateDirectory: folder)
                            current.set(pass)
                            built = resolved.all
                        }
                    }
                    if let reconciler {
                        let cluster = await ClusterSnapshot.take(
                            nodes: reconciler.pass.nodes, drivers: reconciler.pass.drivers, now: Date(),
                            networks: ClusterSnapshot.needsNetworks(desired))
                        if let result = try? await reconciler.run(
                            desired: desired, revision: "c1", dryRun: false, now: Date(), snapshot: cluster)
                        {
                            _ = try? ClusterNodes.forgetEmpty(
                                resolved.retired, snapshot: cluster, observed: result.observed,
                                lostAfter: reconciler.pass.options.nodeLostAfter, now: Date(), store: store)
                            _ = try? await runner?.run(
                                desired: desired, revision: "c1", now: Date(), appPlan: result.plan, snapshot: cluster)
                        }
                    }
                }
                try? await Task.sleep(nanoseconds: 300_000_000)
            }
        }
    }

    func update(_ change: (inout DesiredState) -> Void) async {
        state.modify(change)
    }

    func trigger(_ dag: String, id: String) throws {
        let now = Date()
        try store.addRun(
            RunRecord(
                dag: dag, runID: id, logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now, commitID: "c1",
                createdAt: now))
    }

    func finishedRun(_ dag: String, _ id: String, within seconds: TimeInterval) async throws -> RunRecord? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let run = try store.runs(dag: dag).first(where: { $0.runID == id }), run.state != .running { return run }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        return try store.runs(dag: dag).first { $0.runID == id }
    }

    /// Each attempt's task, try, node, state and error, and the last lines of its output.
    func attemptText(_ dag: String, _ id: String) throws -> String {
        let logs = LogStore(stateDirectory: folder)
        return try store.attempts(dag: dag, runID: id).map { attempt in
            let base = logs.attemptBase(dag: dag, runID: id, task: attempt.task, tryNumber: attempt.tryNumber)
            let output = [base].compactMap(SegmentReader.init).flatMap { reader in
                (0..<reader.count).map { reader.text($0) }
            }.suffix(5).joined(separator: " | ")
            return "\(attempt.task) try \(attempt.tryNumber) on \(attempt.node): \(attempt.state) "
                + "\(attempt.error.map { "\($0)" } ?? "") output: \(output)"
        }.joined(separator: "; ")
    }

    /// Running replicas per node, read from the engines (not from the planner).
    func replicasByHost() async throws -> [String: [ContainerInfo]] {
        guard let pass = current.get() else { return [:] }
        var result: [String: [ContainerInfo]] = [:]
        for node in pass.nodes {
            guard let driver = pass.drivers[node.name], let listed = try? await driver.list() else { continue }
            let replicas = listed.filter { $0.status == .running && $0.labels[OwnershipLabels.app] != nil }
            if !replicas.isEmpty { result[node.name] = replicas }
        }
        return result
    }

    /// Settled on `image`: 4 replicas of it running, all in the router's pool, a pass with nothing to do.
    func converged(image: String, within seconds: TimeInterval) async throws -> Bool {
        try await until(within: seconds) {
            let replicas = try await self.replicasByHost().values.flatMap { $0 }
            guard replicas.count == 4, let pass = self.current.get() else { return false }
            _ = pass
            let images = Set(replicas.map { $0.labels[OwnershipLabels.spec] ?? "" })
            guard let app = self.state.get().apps.first(where: { $0.image == image }),
                images == [SpecHash.of(app)], let publish = app.ports.first?.publish
            else { return false }
            let pooled = await self.router.pool(publish).count
            let idle = try self.store.passes(limit: 1).first?.actions == 0
            return pooled == 4 && idle
        }
    }

    func until(within seconds: TimeInterval, _ condition: @escaping () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(nanoseconds: 300_000_000)
        }
        return false
    }

    func lastPass() -> String { lastPassText(store) }

    func finish() async {
        task?.cancel()
        _ = await task?.value
        await router.shutdown()
    }

    func abandon() { task?.cancel() }
}

/// A value behind a lock.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }
    func set(_ new: Value) { lock.withLock { value = new } }
    func modify(_ change: (inout Value) -> Void) { lock.withLock { change(&value) } }
}
