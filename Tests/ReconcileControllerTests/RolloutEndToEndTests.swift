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

    func success(_ body: String) {
        succeeded += 1
        bodies.insert(body)
    }

    func failure(_ message: String) { failures.append(message) }
}

/// A busybox httpd App published on `publish`: /index.html for its HTTP probe, and a CGI script
/// /cgi-bin/slow that takes 300 ms to answer `body`, so requests are in flight when a replica stops.
func servedApp(name: String, image: String, body: String, publish: Int, deadline: Timespan = .minutes(2)) -> AppSpec {
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
            "trap 'exit 0' TERM; /bin/busybox mkdir -p /www/cgi-bin; echo ok > /www/index.html; "
                + "{ \(script); } > /www/cgi-bin/slow; /bin/busybox chmod +x /www/cgi-bin/slow; "
                + "/bin/httpd -f -p 8080 -h /www & wait",
        ],
        replicas: 3,
        // 400m each (4 fit on 2 cores with the surge replica): at 100m, forking a CGI per request is
        // throttled into multi-second answers.
        resources: Resources(cpu: CPUQuantity(millicores: 400), memory: MemoryQuantity(bytes: 32 << 20)),
        ports: [PortSpec(name: "http", container: 8080, publish: publish)],
        health: HealthSpec(
            probe: .http(port: "http", path: "/index.html", expect: 200), interval: Timespan(milliseconds: 500),
            // Generous: the whole suite runs in parallel on two cores, and a slow probe is not a dead replica.
            timeout: .seconds(3), failureThreshold: 3),
        update: UpdateStrategy(
            maxSurge: 1, maxUnavailable: 0, progressDeadline: deadline, autoRollback: true,
            stopGracePeriod: .seconds(30)))
}

/// One App on its own dockerd behind a router, and a controller loop (a pass every 300 ms) on a
/// target the test swaps like a commit would; shared by the rollout test and its no-drain control.
struct RolloutBench: Sendable {
    let engine: DockerEngine
    let folder: String
    let node: NodeSpec
    let driver: DockerDriver
    let router: Router
    let store: Store
    let publish: Int
    let target: Target
    let loop: Task<Void, Never>

    static func start(drain: Bool = true, first: (Int) -> AppSpec) async throws -> RolloutBench {
        let engine = try await DockerEngine.start()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)").path
        let node = NodeSpec(name: "node-a", backend: .docker(endpoint: engine.endpoint, tls: nil))
        let driver = try DockerDriver(node: "node-a", endpoint: engine.endpoint, address: engine.publishAddress)
        let router = Router()
        let store = try Store(stateDirectory: folder)
        var pass = Pass(nodes: [node], drivers: ["node-a": driver], router: router)
        pass.drainsBeforeStop = drain
        let reconciler = Reconciler(pass: pass, store: store)
        let publish = try #require(HostPorts.freeLoopbackPort())
        let target = Target(DesiredState(nodes: [node], apps: [first(publish)]), revision: "c1")
        let loop = Task {
            while !Task.isCancelled {
                let (desired, revision) = await (target.desired, target.revision)
                _ = try? await reconciler.run(desired: desired, revision: revision, dryRun: false, now: Date())
                try? await Task.sleep(nanoseconds: 300_000_000)
            }
        }
        return RolloutBench(
            engine: engine, folder: folder, node: node, driver: driver, router: router, store: store,
            publish: publish, target: target, loop: loop)
    }

    /// Settled: what runs is the App, all 3 ready, and a pass has found nothing left to do.
    func converged(to app: AppSpec, within seconds: TimeInterval) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let running = try await driver.list().filter { $0.status == .running }
            if running.count == 3, running.allSatisfy({ $0.labels[OwnershipLabels.spec] == SpecHash.of(app) }),
                await router.pool(publish).count == 3, try store.passes(limit: 1).first?.actions == 0
            {
                return true
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        return false
    }

    func lastPass() -> String { lastPassText(store) }

    /// Ends the loop and the router; the daemon is stopped off the cooperative pool.
    func finish() async {
        loop.cancel()
        _ = await loop.value
        await router.shutdown()
        await engine.shutdownOffPool()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// For a test that failed half-way (a `defer`): the same, without waiting.
    func abandon() {
        loop.cancel()
        engine.shutdown()
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

        // Four clients in a loop, one connection per (300 ms) request, through the published port.
        let tally = RequestTally()
        let client = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { await sendRequests(port: publish, tally: tally) } }
            }
        }
        defer { client.cancel() }

        await target.set(DesiredState(nodes: [node], apps: [v2]), revision: "c2")
        #expect(
            try await bench.converged(to: v2, within: 90),
            "the rolling update to v2 did not finish; \(bench.lastPass())")
        let afterUpdate = await (tally.succeeded, tally.failures, tally.bodies)
        #expect(afterUpdate.1.isEmpty, "failed requests during the rolling update: \(afterUpdate.1.prefix(5))")
        #expect(afterUpdate.0 >= 20, "only \(afterUpdate.0) requests went through during the update")
        #expect(afterUpdate.2 == ["v1", "v2"], "bodies served: \(afterUpdate.2)")

        // A broken version: it runs but never answers its probe, so it misses its deadline.
        let broken = AppSpec(
            name: "web", image: TestImage.name, command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            replicas: 3, resources: v2.resources, ports: v2.ports, health: v2.health,
            update: UpdateStrategy(
                maxSurge: 1, maxUnavailable: 0, progressDeadline: .seconds(4), autoRollback: true,
                stopGracePeriod: .seconds(30)))
        await target.set(DesiredState(nodes: [node], apps: [broken]), revision: "c3")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try store.rollouts().failed["web"] != SpecHash.of(broken) {
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(try store.rollouts().failed["web"] == SpecHash.of(broken), "the broken version was not rolled back")
        #expect(try await bench.converged(to: v2, within: 30), "v2 is not what runs after the rollback")
        client.cancel()
        _ = await client.value
        let final = await (tally.succeeded, tally.failures)
        #expect(final.1.isEmpty, "failed requests: \(final.1.prefix(5))")
        #expect(final.0 > afterUpdate.0)
        print("e2e: \(afterUpdate.0) requests during the update, \(final.0) in all, \(final.1.count) failed")

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
}

extension RolloutEndToEndTests {
    /// The control for the test above: the same rolling update with the drain turned off loses
    /// requests (those in flight on a replica when it stops), so "no request failed" there is a
    /// result of the drain, not of a test that cannot see a failure. Twelve clients keep several
    /// requests in flight on every replica at each of the three stops.
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
        let tally = RequestTally()
        let client = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<12 { group.addTask { await sendRequests(port: publish, tally: tally) } }
            }
        }
        defer { client.cancel() }
        await target.set(DesiredState(nodes: [node], apps: [v2]), revision: "c2")
        #expect(try await bench.converged(to: v2, within: 90), "the rolling update to v2 did not finish")
        client.cancel()
        _ = await client.value
        let (succeeded, failures) = await (tally.succeeded, tally.failures)
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
func lastPassText(_ store: Store) -> String {
    let last = try? store.passes(limit: 1).first
    return "last pass: \(last?.summary ?? "none") \(last?.failures ?? "")"
}
