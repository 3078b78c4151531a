import AsyncHTTPClient
import Foundation
import NIOCore
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRouter
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

/// The desired state a background loop converges to; the test swaps it like a git commit would.
actor Target {
    var desired: DesiredState
    var revision: String

    init(_ desired: DesiredState, revision: String) {
        self.desired = desired
        self.revision = revision
    }

    func set(_ desired: DesiredState, revision: String) {
        self.desired = desired
        self.revision = revision
    }
}

/// Counts requests sent through the router in a loop.
actor RequestTally {
    var succeeded = 0
    var failures: [String] = []
    var bodies: Set<String> = []
    /// What the test is doing now; failures and counts say in which phase they happened.
    var current = "start"
    var perPhase: [String: Int] = [:]

    func phase(_ name: String) { current = name }

    func success(_ body: String) {
        succeeded += 1
        perPhase[current, default: 0] += 1
        bodies.insert(body)
    }

    func failure(_ message: String) { failures.append("[\(current) at \(Date())] \(message)") }

    /// Requests in flight, by worker: when each was sent and to which path.
    var inFlight: [Int: (sent: Date, path: String)] = [:]
    /// What the replicas and the router looked like while a request was stalled (the first time one was).
    var stallReport: String?

    func sent(_ worker: Int, _ path: String) { inFlight[worker] = (Date(), path) }
    func answered(_ worker: Int) { inFlight[worker] = nil }
    func stalled(_ report: String) { stallReport = report }

    /// The oldest request in flight, when it has been waiting longer than `seconds`.
    func stalledRequest(over seconds: TimeInterval) -> String? {
        guard let oldest = inFlight.values.min(by: { $0.sent < $1.sent }),
            Date().timeIntervalSince(oldest.sent) > seconds
        else { return nil }
        return "\(oldest.path) sent at \(oldest.sent), \(inFlight.count) requests in flight"
    }
}

/// `workers` loops on one keep-alive client pool of as many connections, through the router's
/// published port: GET /index.html (the version's body), every `slowEvery`th the 300 ms CGI so
/// requests are in flight whenever a replica stops.
struct KeepAliveLoad {
    let client: HTTPClient
    let tally: RequestTally
    let task: Task<Void, Never>

    /// `diagnose`, when given, is called once when a request has waited over 10 s (no request of
    /// this load should take more than a second): what it returns goes into the failure message.
    static func start(
        port: Int, workers: Int = 16, slowEvery: Int = 8, diagnose: (@Sendable () async -> String)? = nil
    ) -> KeepAliveLoad {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(300), concurrentHTTP1ConnectionsPerHostSoftLimit: workers)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let tally = RequestTally()
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                if let diagnose {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            if let stalled = await tally.stalledRequest(over: 10) {
                                let report = await diagnose()
                                await tally.stalled("stalled: \(stalled)\n\(report)")
                                return
                            }
                        }
                    }
                }
                for worker in 0..<workers {
                    group.addTask {
                        var count = 0
                        while !Task.isCancelled {
                            count += 1
                            let path = count % slowEvery == 0 ? "/cgi-bin/slow" : "/index.html"
                            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                            await tally.sent(worker, path)
                            do {
                                let response = try await client.execute(request, timeout: .seconds(60))
                                let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
                                if response.status == .ok {
                                    await tally.success(body.trimmingCharacters(in: .whitespacesAndNewlines))
                                } else {
                                    await tally.failure("\(path): status \(response.status.code) \(body.prefix(200))")
                                }
                            } catch {
                                if !Task.isCancelled { await tally.failure("\(path): \(error)") }
                            }
                            await tally.answered(worker)
                        }
                    }
                }
            }
        }
        return KeepAliveLoad(client: client, tally: tally, task: task)
    }

    func stop() async {
        task.cancel()
        _ = await task.value
        try? await client.shutdown()
    }
}

/// A busybox httpd App published on `publish`: /index.html for its HTTP probe, and a CGI script
/// /cgi-bin/slow that takes 300 ms to answer `body`, so requests are in flight when a replica stops.
func servedApp(
    name: String, image: String, body: String, publish: Int, deadline: Timespan = .minutes(2),
    mode: PortProtocol = .http,
    replicas: Int = 3
) -> AppSpec {
    let script = [
        // CRLF line ends: busybox passes CGI headers through as they are, and HTTP wants CRLF.
        "#!/bin/sh",
        "/bin/busybox printf \"Content-Type: text/plain\\r\\nContent-Length: \(body.utf8.count + 1)\\r\\n\\r\\n\"",
        "/bin/busybox sleep 0.3", "echo \(body)",
    ].map { "echo '\($0)'" }.joined(separator: "; ")
    return AppSpec(
        name: name, image: image,
        command: [
            "/bin/sh", "-c",
            "trap 'exit 0' TERM; /bin/busybox mkdir -p /www/cgi-bin; echo \(body) > /www/index.html; "
                + "{ \(script); } > /www/cgi-bin/slow; /bin/busybox chmod +x /www/cgi-bin/slow; "
                + "/bin/httpd -f -p 8080 -h /www & wait",
        ],
        replicas: replicas,
        // 400m each (4 fit on 2 cores with the surge replica): at 100m, forking a CGI per request is
        // throttled into multi-second answers.
        resources: Resources(cpu: CPUQuantity(millicores: 400), memory: MemoryQuantity(bytes: 32 << 20)),
        ports: [PortSpec(name: "http", container: 8080, publish: publish, mode: mode)],
        health: HealthSpec(
            probe: .http(port: "http", path: "/index.html", expect: 200), interval: Timespan(milliseconds: 500),
            // Generous: the whole suite runs in parallel on two cores, and a slow probe is not a dead replica.
            timeout: .seconds(3), failureThreshold: 3),
        update: UpdateStrategy(
            maxSurge: 1, maxUnavailable: 0, progressDeadline: deadline, autoRollback: true,
            stopGracePeriod: .seconds(30)))
}

/// One App on its own dockerd (or two: nodes node-a and node-b) behind a router, and a controller
/// loop (a pass every 300 ms) on a target the test swaps like a commit would; shared by the rollout
/// tests and their no-drain control.
struct RolloutBench: Sendable {
    let engines: [DockerEngine]
    let folder: String
    let nodes: [NodeSpec]
    let drivers: [DockerDriver]
    let router: Router
    /// Every request the router finished (which replica answered a failed one, and how).
    let requests: RecordingObserver
    let store: Store
    let publish: Int
    let target: Target
    let loop: Task<Void, Never>

    var node: NodeSpec { nodes[0] }
    var engine: DockerEngine { engines[0] }
    var driver: DockerDriver { drivers[0] }

    static func start(drain: Bool = true, engines count: Int = 1, first: (Int) -> AppSpec) async throws -> RolloutBench
    {
        var engines: [DockerEngine] = []
        for _ in 0..<count { engines.append(try await DockerEngine.start()) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)").path
        let names = ["node-a", "node-b"].prefix(count)
        let nodes = zip(names, engines).map { NodeSpec(name: $0, backend: .docker(endpoint: $1.endpoint, tls: nil)) }
        let drivers = try zip(names, engines).map {
            try DockerDriver(node: $0, endpoint: $1.endpoint, address: $1.publishAddress)
        }
        let requests = RecordingObserver()
        let router = Router(observer: requests)
        let store = try Store(stateDirectory: folder)
        let byName = Dictionary(uniqueKeysWithValues: zip(names, drivers.map { $0 as any ContainerDriver }))
        let health = HealthMonitor()
        let publish = try #require(HostPorts.freeLoopbackPort())
        let target = Target(DesiredState(nodes: nodes, apps: [first(publish)]), revision: "c1")
        let loop = Task {
            while !Task.isCancelled {
                let (desired, revision) = await (target.desired, target.revision)
                // The target's nodes as they are now (a drain is a node's state, as the controller
                // applies it each pass); readiness carries over in the shared monitor.
                var pass = Pass(nodes: desired.nodes, drivers: byName, health: health, router: router)
                pass.drainsBeforeStop = drain
                let reconciler = Reconciler(pass: pass, store: store)
                _ = try? await reconciler.run(desired: desired, revision: revision, dryRun: false, now: Date())
                try? await Task.sleep(nanoseconds: 300_000_000)
            }
        }
        return RolloutBench(
            engines: engines, folder: folder, nodes: nodes, drivers: drivers, router: router, requests: requests,
            store: store,
            publish: publish, target: target, loop: loop)
    }

    /// Running containers per node.
    func running() async throws -> [String: [ContainerInfo]] {
        var result: [String: [ContainerInfo]] = [:]
        for (node, driver) in zip(nodes, drivers) {
            result[node.name] = try await driver.list().filter { $0.status == .running }
        }
        return result
    }

    /// Settled: what runs is the App, all its replicas ready (on `onlyOn` when given), and a pass
    /// has found nothing left to do.
    func converged(to app: AppSpec, within seconds: TimeInterval, onlyOn: String? = nil) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let placed = try await running()
            let all = placed.values.flatMap { $0 }
            if all.count == app.replicas, all.allSatisfy({ $0.labels[OwnershipLabels.spec] == SpecHash.of(app) }),
                onlyOn.map({ placed[$0]?.count == app.replicas }) ?? true,
                await router.pool(publish).count == app.replicas, try store.passes(limit: 1).first?.actions == 0
            {
                return true
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        return false
    }

    func lastPass() -> String { lastPassText(store) }

    /// The replicas' processes (state and kernel wait channel), their cgroups' throttling and memory
    /// counts, the engines' docker-proxy processes, the TCP queues between router, proxies and
    /// replicas, and the host's load: for a request that stalled, taken while it is stalled.
    func diagnose() async -> String {
        let engines = self.engines
        return await Blocking.run {
            func run(_ arguments: [String]) -> String {
                guard let result = try? Command.run(arguments) else { return "(\(arguments[0]) did not run)" }
                return result.stdout + result.stderr
            }
            func read(_ path: String) -> String? {
                (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").joined(separator: "; ")
            }
            var report: [String] = []
            for engine in engines {
                let ids = run(["docker", "-H", engine.endpoint, "ps", "-q", "--no-trunc"]).split(separator: "\n")
                for id in ids.map(String.init) {
                    let facts = run([
                        "docker", "-H", engine.endpoint, "inspect", "-f",
                        "{{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}} {{.Config.Image}}",
                        id,
                    ])
                    report.append("container \(id.prefix(12)): \(facts)")
                    if let pid = facts.split(separator: " ").first {
                        report.append(run(["nsenter", "-t", String(pid), "-n", "ss", "-tani"]))
                    }
                    report.append(
                        run(["docker", "-H", engine.endpoint, "top", id, "-eo", "pid,ppid,stat,wchan:32,etimes,args"]))
                    for file in [
                        "/sys/fs/cgroup/cpu/docker/\(id)/cpu.stat",
                        "/sys/fs/cgroup/memory/docker/\(id)/memory.failcnt",
                        "/sys/fs/cgroup/memory/docker/\(id)/memory.oom_control",
                        "/sys/fs/cgroup/memory/docker/\(id)/memory.max_usage_in_bytes",
                        "/sys/fs/cgroup/pids/docker/\(id)/pids.current", "/sys/fs/cgroup/docker/\(id)/cpu.stat",
                        "/sys/fs/cgroup/docker/\(id)/memory.events", "/sys/fs/cgroup/docker/\(id)/cgroup.freeze",
                    ] {
                        if let text = read(file) { report.append("\(file): \(text)") }
                    }
                }
                report.append(run(["bridge", "fdb", "show", "br", engine.bridge]))
                report.append(run(["ip", "neigh", "show", "dev", engine.bridge]))
                report.append(run(["ip", "-s", "link", "show", "master", engine.bridge]))
                let proxies = run(["ps", "-eo", "pid,stat,wchan:32,etimes,args"]).split(separator: "\n").filter {
                    $0.contains("docker-proxy") && $0.contains(engine.publishAddress)
                }
                report.append("docker-proxy:\n" + proxies.joined(separator: "\n"))
                let sockets = run(["ss", "-tnpi"]).split(separator: "\n", omittingEmptySubsequences: false)
                report.append(
                    "sockets (\(engine.publishAddress) and :8080):\n"
                        + sockets.enumerated().filter { index, line in
                            line.contains(engine.publishAddress) || line.contains(":8080")
                                || (index > 0
                                    && (sockets[index - 1].contains(engine.publishAddress)
                                        || sockets[index - 1].contains(":8080"))
                                    && line.hasPrefix("\t"))
                        }.map(\.1).prefix(200).joined(separator: "\n"))
            }
            for file in ["/proc/loadavg", "/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io"] {
                if let text = read(file) { report.append("\(file): \(text)") }
            }
            return report.joined(separator: "\n")
        }
    }

    /// For a failed expectation: the router's failed requests (replica, status, time) and the passes
    /// that stopped or started something.
    func failureContext() -> String {
        let failed = requests.records.filter { $0.status >= 500 }.prefix(10).map {
            "\n\($0.time) \($0.method) \($0.uri) → \($0.status) from \($0.backend?.prefix(12) ?? "none") "
                + "after \($0.duration), \($0.retries) retries"
        }
        return "router failures:\(failed.joined()); passes:\(actingPassesText(store))"
    }

    /// Ends the loop and the router; the daemons are stopped off the cooperative pool.
    func finish() async {
        loop.cancel()
        _ = await loop.value
        await router.shutdown()
        for engine in engines { await engine.shutdownOffPool() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// For a test that failed half-way (a `defer`): the same, without waiting.
    func abandon() {
        loop.cancel()
        for engine in engines { engine.shutdown() }
        try? FileManager.default.removeItem(atPath: folder)
    }
}

@Suite(.serialized) struct RolloutEndToEndTests {
    /// Converges an App on its own dockerd, rolls it to a new image while a client sends requests
    /// through the router (none may fail), then deploys a version that never gets healthy: it is
    /// rolled back automatically, still without a failed request.
    /// Runs alone among the heavy end-to-end tests (see HeavyTests).
    @Test(.timeLimit(.minutes(15))) func rollingUpdateThroughTheRouterLosesNoRequestAndABrokenVersionRollsBack()
        async throws
    {
        try await HeavyTests.exclusive {
            try await rollingUpdateThroughTheRouterLosesNoRequestAndABrokenVersionRollsBackAlone()
        }
    }

    func rollingUpdateThroughTheRouterLosesNoRequestAndABrokenVersionRollsBackAlone() async throws {
        let bench = try await RolloutBench.start {
            servedApp(name: "web", image: TestImage.name, body: "v1", publish: $0)
        }
        defer { bench.abandon() }
        let (node, store, publish, target) = (bench.node, bench.store, bench.publish, bench.target)
        let v1 = servedApp(name: "web", image: TestImage.name, body: "v1", publish: publish)
        let v2 = servedApp(name: "web", image: TestImage.second, body: "v2", publish: publish)
        #expect(
            try await bench.converged(to: v1, within: 60),
            "v1 did not converge with 3 ready replicas; \(bench.lastPass())")

        // Sixteen keep-alive connections in a loop through the published port.
        let load = KeepAliveLoad.start(port: publish, diagnose: bench.diagnose)
        defer { load.task.cancel() }
        await load.tally.phase("rolling update")
        await target.set(DesiredState(nodes: [node], apps: [v2]), revision: "c2")
        #expect(
            try await bench.converged(to: v2, within: 120),
            "the rolling update to v2 did not finish; \(bench.lastPass())")
        let afterUpdate = await (load.tally.succeeded, load.tally.failures, load.tally.bodies)
        let stalledInUpdate = await load.tally.stallReport ?? "no request stalled"
        #expect(
            afterUpdate.1.isEmpty,
            "failed requests during the rolling update: \(afterUpdate.1.prefix(5)); \(bench.failureContext())\n\(stalledInUpdate)"
        )
        #expect(afterUpdate.0 >= 500, "only \(afterUpdate.0) requests went through during the update")
        #expect(afterUpdate.2 == ["v1", "v2"], "bodies served: \(afterUpdate.2)")

        // Scaling down stops a replica the same way: drained first.
        await load.tally.phase("scale-down")
        var fewer = v2
        fewer.replicas = 2
        await target.set(DesiredState(nodes: [node], apps: [fewer]), revision: "c3")
        #expect(try await bench.converged(to: fewer, within: 60), "the scale-down did not finish; \(bench.lastPass())")

        // A broken version: it runs but never answers its probe, so it misses its deadline.
        await load.tally.phase("rollback")
        let broken = AppSpec(
            name: "web", image: TestImage.name, command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            replicas: 2, resources: v2.resources, ports: v2.ports, health: v2.health,
            update: UpdateStrategy(
                maxSurge: 1, maxUnavailable: 0, progressDeadline: .seconds(4), autoRollback: true,
                stopGracePeriod: .seconds(30)))
        await target.set(DesiredState(nodes: [node], apps: [broken]), revision: "c4")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try store.rollouts().failed["web"] != SpecHash.of(broken) {
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(try store.rollouts().failed["web"] == SpecHash.of(broken), "the broken version was not rolled back")
        #expect(try await bench.converged(to: fewer, within: 30), "v2 is not what runs after the rollback")
        // At least 5,000 requests in all (the load goes on until then, on what runs now).
        await load.tally.phase("steady")
        let enough = Date().addingTimeInterval(120)
        while await load.tally.succeeded < 5000, Date() < enough { try await Task.sleep(for: .milliseconds(100)) }
        await load.stop()
        let final = await (load.tally.succeeded, load.tally.failures, load.tally.perPhase)
        let stall = await load.tally.stallReport ?? "no request stalled"
        #expect(final.1.isEmpty, "failed requests: \(final.1.prefix(5)); \(bench.failureContext())\n\(stall)")
        #expect(final.0 >= 5000)
        print("e2e http keep-alive: \(final.0) requests, \(final.1.count) failed; by phase \(final.2)")

        let history = try store.rolloutHistory(app: "web").reversed().map {
            "\($0.kind.rawValue) \($0.toHash.prefix(8))"
        }
        let (h1, h2, h3) = (SpecHash.of(v1).prefix(8), SpecHash.of(v2).prefix(8), SpecHash.of(broken).prefix(8))
        #expect(
            Array(history) == [
                "started \(h1)", "completed \(h1)", "started \(h2)", "completed \(h2)", "started \(h3)",
                "rolled back \(h2)",
            ], "history: \(history)")
        await bench.finish()
    }

    /// A node drain moves an HTTP App's replicas to the other node under the same keep-alive load:
    /// each is drained from the router before it stops, and no request fails.
    @Test(.timeLimit(.minutes(15))) func aNodeDrainUnderKeepAliveLoadLosesNoRequest() async throws {
        try await HeavyTests.exclusive { try await aNodeDrainUnderKeepAliveLoadLosesNoRequestAlone() }
    }

    func aNodeDrainUnderKeepAliveLoadLosesNoRequestAlone() async throws {
        let bench = try await RolloutBench.start(engines: 2) {
            servedApp(name: "web", image: TestImage.name, body: "v1", publish: $0)
        }
        defer { bench.abandon() }
        let app = servedApp(name: "web", image: TestImage.name, body: "v1", publish: bench.publish)
        #expect(try await bench.converged(to: app, within: 90), "v1 did not converge; \(bench.lastPass())")
        let before = try await bench.running()
        #expect((before["node-a"]?.count ?? 0) > 0, "nothing ran on node-a to drain: \(before.mapValues(\.count))")
        let load = KeepAliveLoad.start(port: bench.publish, diagnose: bench.diagnose)
        defer { load.task.cancel() }
        let going = await eventually { await load.tally.succeeded >= 200 }
        let early = await load.tally.failures.prefix(3)
        #expect(going, "the load did not get going: \(early)")
        await load.tally.phase("drain")
        var drained = bench.nodes
        drained[0].drain = NodeSpec.Drain(cause: .requested, since: Date())
        await bench.target.set(DesiredState(nodes: drained, apps: [app]), revision: "c1")
        #expect(
            try await bench.converged(to: app, within: 120, onlyOn: "node-b"),
            "the replicas did not move to node-b; \(bench.lastPass())")
        await load.stop()
        let (succeeded, failures, phases) = await (load.tally.succeeded, load.tally.failures, load.tally.perPhase)
        let stall = await load.tally.stallReport ?? "no request stalled"
        #expect(
            failures.isEmpty,
            "failed requests during the drain: \(failures.prefix(5)); \(bench.failureContext())\n\(stall)")
        print("e2e http drain: \(succeeded) requests, \(failures.count) failed; by phase \(phases)")
        await bench.finish()
    }
}

extension RolloutEndToEndTests {
    /// The control for the test above: the same rolling update with the drain turned off loses
    /// requests (those in flight on a replica when it stops), so "no request failed" there is a
    /// result of the drain, not of a test that cannot see a failure. Sixteen connections sending
    /// only the slow request keep several in flight on every replica at each of the three stops.
    @Test(.timeLimit(.minutes(10))) func withoutTheDrainTheSameRollingUpdateLosesRequests() async throws {
        try await HeavyTests.exclusive { try await withoutTheDrainTheSameRollingUpdateLosesRequestsAlone() }
    }

    func withoutTheDrainTheSameRollingUpdateLosesRequestsAlone() async throws {
        let bench = try await RolloutBench.start(drain: false) {
            servedApp(name: "web", image: TestImage.name, body: "v1", publish: $0)
        }
        defer { bench.abandon() }
        let (node, publish, target) = (bench.node, bench.publish, bench.target)
        let v1 = servedApp(name: "web", image: TestImage.name, body: "v1", publish: publish)
        let v2 = servedApp(name: "web", image: TestImage.second, body: "v2", publish: publish)
        #expect(try await bench.converged(to: v1, within: 60), "v1 did not converge with 3 ready replicas")
        let load = KeepAliveLoad.start(port: publish, slowEvery: 1)
        defer { load.task.cancel() }
        await target.set(DesiredState(nodes: [node], apps: [v2]), revision: "c2")
        #expect(try await bench.converged(to: v2, within: 90), "the rolling update to v2 did not finish")
        await load.stop()
        let (succeeded, failures) = await (load.tally.succeeded, load.tally.failures)
        print("e2e control (no drain): \(succeeded) requests succeeded, \(failures.count) failed")
        #expect(!failures.isEmpty, "no request failed without the drain: the rollout test could not see a loss")
        await bench.finish()
    }
}

/// Sends requests to the slow endpoint until cancelled, tallying each outcome.
func sendRequests(
    port: Int, tally: RequestTally, host: String = "127.0.0.1", path: String = "/cgi-bin/slow", pause: UInt64 = 0
) async {
    while !Task.isCancelled {
        var request = HTTPClientRequest(url: "http://\(host):\(port)\(path)")
        request.headers.add(name: "Connection", value: "close")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
            if response.status == .ok {
                await tally.success(body.trimmingCharacters(in: .whitespacesAndNewlines))
            } else {
                await tally.failure("status \(response.status.code)")
            }
        } catch {
            if !Task.isCancelled { await tally.failure("\(error)") }
        }
        if pause > 0 { try? await Task.sleep(nanoseconds: pause) }
    }
}

/// The newest pass's summary and failures, for a failed expectation's message.
/// The passes that did something among the last 200, with their times: what stopped or started
/// when a request failed.
func actingPassesText(_ store: Store) -> String {
    let passes = (try? store.passes(limit: 200)) ?? []
    return passes.reversed().filter { $0.actions > 0 || !$0.failures.isEmpty }.map {
        "\n[\($0.startedAt)–\($0.finishedAt)] \($0.summary) \($0.failures)"
    }.joined()
}

func lastPassText(_ store: Store) -> String {
    let last = try? store.passes(limit: 1).first
    return "last pass: \(last?.summary ?? "none") \(last?.failures ?? "")"
}
