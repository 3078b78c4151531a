import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileTesting
import Testing

/// A driver that delegates to an `InMemoryDriver` and records what the executor asked of it: how
/// many runs were under way at once, and the order of image checks, pulls and runs.
actor RecordingDriver: ContainerDriver {
    nonisolated let node: String
    let inner: InMemoryDriver
    private var images: Set<String>
    private(set) var inFlight = 0
    private(set) var mostInFlight = 0
    private(set) var calls: [String] = []

    init(node: String, images: Set<String> = []) {
        self.node = node
        self.images = images
        inner = InMemoryDriver(
            node: node,
            capacity: Resources(cpu: CPUQuantity(millicores: 64_000), memory: MemoryQuantity(bytes: 64 << 30)),
            images: ["web:1"])
    }

    func info() async throws -> NodeInfo { try await inner.info() }
    func list() async throws -> [ContainerInfo] { try await inner.list() }
    func run(_ spec: ContainerSpec) async throws -> ContainerInfo {
        calls.append("run \(spec.name)")
        if let image = spec.image, !images.contains(image) {
            throw DriverError(.notFound, node: node, operation: "run", message: "No such image: \(image)")
        }
        inFlight += 1
        mostInFlight = max(mostInFlight, inFlight)
        defer { inFlight -= 1 }
        // Long enough that runs overlap when the executor starts them together.
        try await Task.sleep(for: .milliseconds(30))
        var plain = spec
        plain.image = "web:1"
        return try await inner.run(plain)
    }
    func stop(_ id: String, grace: Timespan) async throws { try await inner.stop(id, grace: grace) }
    func remove(_ id: String) async throws { try await inner.remove(id) }
    func inspect(_ id: String) async throws -> ContainerInfo? { try await inner.inspect(id) }
    func logs(_ id: String, since: Date?) async throws -> [LogLine] { try await inner.logs(id, since: since) }
    func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int {
        try await inner.exec(id, command: command, timeout: timeout)
    }
    func removeVolume(_ name: String) async throws { calls.append("remove volume \(name)") }
    func volumes() async throws -> [String] { [] }
    func hasImage(_ image: String) async throws -> Bool {
        calls.append("has \(image)")
        return images.contains(image)
    }
    func pull(_ image: String, auth: RegistryAuth?) async throws {
        calls.append("pull \(image)")
        images.insert(image)
    }
    nonisolated func exitNotices() -> ExitNotices? { nil }

    /// Creates a container under `name` behind the executor's back (an interrupted earlier pass).
    func preexisting(_ spec: ContainerSpec) async throws { _ = try await inner.run(spec) }
}

@Suite struct ExecutorTests {
    static let node = ObservedNode(
        name: "n", capacity: Resources(cpu: CPUQuantity(millicores: 64_000), memory: MemoryQuantity(bytes: 64 << 30)))

    static func app(_ name: String, replicas: Int, image: String) -> AppSpec {
        AppSpec(
            name: name, image: image, command: ["fake:sleep"], replicas: replicas,
            resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)))
    }

    static func plan(_ apps: [AppSpec]) -> Plan {
        Planner.plan(desired: DesiredState(apps: apps), observed: Observed(nodes: [node]), now: Date())
    }

    /// A missing image is pulled before the container runs; a present one is not pulled.
    @Test func aMissingImageIsPulledBeforeTheStart() async throws {
        let driver = RecordingDriver(node: "n", images: ["present:1"])
        let apps = [
            Self.app("fresh", replicas: 1, image: "registry.example/fresh:2"),
            Self.app("old", replicas: 1, image: "present:1"),
        ]
        let failures = await Executor(drivers: ["n": driver]).apply(
            Self.plan(apps), desired: DesiredState(apps: apps), revision: "c1")
        #expect(failures.isEmpty, "\(failures)")
        let calls = await driver.calls
        let fresh = calls.filter { $0.contains("fresh") }
        #expect(fresh.count == 3, "\(calls)")
        #expect(fresh.first == "has registry.example/fresh:2")
        #expect(fresh.dropFirst().first == "pull registry.example/fresh:2")
        #expect(fresh.last?.hasPrefix("run fresh-0-") == true)
        #expect(!calls.contains("pull present:1"))
        #expect(calls.contains("has present:1"))
    }

    /// `pull: always` pulls a present image again; `never` does not pull and fails a start whose
    /// image is absent, with the reason; `ifNotPresent` (above) pulls only what is missing.
    @Test func pullPoliciesDecideWhenToPull() async throws {
        var always = Self.app("always", replicas: 1, image: "present:1")
        always.pull = .always
        var never = Self.app("never", replicas: 1, image: "present:1")
        never.pull = .never
        var absent = Self.app("absent", replicas: 1, image: "absent:1")
        absent.pull = .never
        let driver = RecordingDriver(node: "n", images: ["present:1"])
        let apps = [always, never, absent]
        let failures = await Executor(drivers: ["n": driver]).apply(
            Self.plan(apps), desired: DesiredState(apps: apps), revision: "c1")
        let calls = await driver.calls
        #expect(calls.filter { $0 == "pull present:1" }.count == 1, "\(calls)")
        #expect(!calls.contains("pull absent:1"))
        #expect(calls.contains { $0.hasPrefix("run never-0-") })
        #expect(!calls.contains { $0.hasPrefix("run absent-0-") })
        #expect(failures.count == 1)
        guard case .pullFailed(let error)? = failures.first?.cause else {
            Issue.record("\(failures)")
            return
        }
        #expect(error.message.contains("pull is never"), "\(error)")
    }

    /// An image of a registry declared by a `Registry` is pulled with its credentials; without
    /// them the registry refuses, and the failure is the typed pull error.
    @Test func privateImagesArePulledWithTheRegistrysCredentials() async throws {
        let capacity = Resources(cpu: CPUQuantity(millicores: 64_000), memory: MemoryQuantity(bytes: 64 << 30))
        let driver = InMemoryDriver(node: "n", capacity: capacity)
        await driver.publish("registry.example:5000/etl:2", username: "ci")
        let apps = [Self.app("etl", replicas: 1, image: "registry.example:5000/etl:2")]
        let denied = await Executor(drivers: ["n": driver]).apply(
            Self.plan(apps), desired: DesiredState(apps: apps), revision: "c1")
        guard case .pullFailed(let error)? = denied.first?.cause else {
            Issue.record("\(denied)")
            return
        }
        #expect(error.message.contains("unauthorized"), "\(error)")
        let password = try SecretReference(parsing: TestSecrets.file("s3cret"))
        let registry = RegistrySpec(
            name: "private", server: "registry.example:5000", username: "ci",
            password: password)
        let failures = await Executor(drivers: ["n": driver]).apply(
            Self.plan(apps), desired: DesiredState(apps: apps, registries: [registry]), revision: "c1")
        #expect(failures.isEmpty, "\(failures)")
        #expect(await driver.pulls.map(\.username) == [nil, "ci"])
        #expect(try await driver.list().count == 1)
    }

    /// A failed pull is not tried again on every pass but after a doubling backoff; after
    /// `alertAfter` failures in a row the App is reported (its `pull/APP` condition), until a pull works.
    @Test func failedPullsBackOffAndRaiseTheAppsCondition() async throws {
        let capacity = Resources(cpu: CPUQuantity(millicores: 64_000), memory: MemoryQuantity(bytes: 64 << 30))
        let driver = InMemoryDriver(node: "n", capacity: capacity)
        let apps = [Self.app("etl", replicas: 1, image: "registry.example:5000/etl:2")]
        let pulls = PullBackoff()
        // A fixed clock: however slowly the passes run, all three fall inside the first 10 s backoff.
        let fixed = Date(timeIntervalSince1970: 1_800_000_000)
        let executor = Executor(drivers: ["n": driver], pulls: pulls, clock: { fixed })
        for _ in 0..<3 {
            let failures = await executor.apply(Self.plan(apps), desired: DesiredState(apps: apps), revision: "c1")
            #expect(failures.count == 1)
        }
        // One pull reached the node; the next two passes were inside the backoff.
        #expect(await driver.pulls.count == 1)
        #expect(pulls.failing().isEmpty)
        #expect(try await driver.list().isEmpty)

        // The backoff doubles; the third failure in a row reports the App; a success clears it.
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let memory = PullBackoff()
        memory.failed(node: "n", image: "i", app: "etl", message: "unauthorized", now: t0)
        #expect(memory.backingOff(node: "n", image: "i", now: t0.addingTimeInterval(9))?.count == 1)
        #expect(memory.backingOff(node: "n", image: "i", now: t0.addingTimeInterval(10)) == nil)
        memory.failed(node: "n", image: "i", app: "etl", message: "unauthorized", now: t0.addingTimeInterval(10))
        #expect(memory.backingOff(node: "n", image: "i", now: t0.addingTimeInterval(29)) != nil)
        #expect(memory.backingOff(node: "n", image: "i", now: t0.addingTimeInterval(30)) == nil)
        #expect(memory.failing().isEmpty)
        memory.failed(node: "n", image: "i", app: "etl", message: "unauthorized", now: t0.addingTimeInterval(30))
        #expect(memory.failing()["etl"]?.contains("unauthorized (3 pulls failed in a row)") == true)
        memory.succeeded(node: "n", image: "i")
        #expect(memory.failing().isEmpty)
    }

    /// Starts run at most `maxConcurrent` at a time, and all of them do run.
    @Test func startsRunWithBoundedConcurrency() async throws {
        let driver = RecordingDriver(node: "n", images: ["web:1"])
        let apps = [Self.app("many", replicas: 20, image: "web:1")]
        let failures = await Executor(drivers: ["n": driver], maxConcurrent: 4).apply(
            Self.plan(apps), desired: DesiredState(apps: apps), revision: "c1")
        #expect(failures.isEmpty, "\(failures)")
        #expect(try await driver.list().count == 20)
        let most = await driver.mostInFlight
        #expect(most == 4, "at most \(most) runs at once")
    }

    /// A container that already exists under the planned name (an earlier pass started it and was
    /// interrupted before recording it) is adopted: no failure, and no second container.
    @Test func aStartThatFindsItsContainerAdoptsIt() async throws {
        let driver = RecordingDriver(node: "n", images: ["web:1"])
        let apps = [Self.app("web", replicas: 2, image: "web:1")]
        let plan = Self.plan(apps)
        let first = try #require(plan.starts.first)
        try await driver.preexisting(ContainerSpec(name: first.name, image: "web:1", command: ["fake:sleep"]))
        let failures = await Executor(drivers: ["n": driver]).apply(
            plan, desired: DesiredState(apps: apps), revision: "c1")
        #expect(failures.isEmpty, "\(failures)")
        let names = try await driver.inner.list().map(\.name)
        #expect(names.sorted() == plan.starts.map(\.name).sorted())
    }
}

/// The executor's failures are typed: what it tried and why it failed, not strings.
@Suite struct ExecutorFailureTests {
    @Test func failuresSayWhichActionAndWhy() async throws {
        let driver = InMemoryDriver(
            node: "a", capacity: Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 4 << 30)))
        let executor = Executor(drivers: ["a": driver])
        let app = AppSpec(name: "web", image: "private/web:9", replicas: 1)
        let plan = Plan(
            actions: [
                .start(
                    StartContainer(
                        app: "web", slot: 0, specHash: "h", node: "a", name: "web-0-h", resources: app.resources)),
                .start(
                    StartContainer(
                        app: "web", slot: 1, specHash: "h", node: "gone", name: "web-1-h", resources: app.resources)),
            ], changes: [], unchanged: [])
        let failures = await executor.apply(plan, desired: DesiredState(apps: [app]), revision: "c1")
        #expect(failures.count == 2)
        let pull = try #require(failures.first { $0.action == .start(container: "web-0-h", node: "a") })
        guard case .pullFailed(let error) = pull.cause else {
            Issue.record("expected a pull failure, got \(pull.cause)")
            return
        }
        #expect(error.operation == "pull image private/web:9")
        #expect(pull.description.hasPrefix("start web-0-h on a: image pull failed: "))
        let unknown = try #require(failures.first { $0.action == .start(container: "web-1-h", node: "gone") })
        #expect(unknown.cause == .unknownNode("gone"))
        #expect(unknown.description == "start web-1-h on gone: unknown node gone")
    }
}
