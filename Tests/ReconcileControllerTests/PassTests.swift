import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

func webApp(image: String, replicas: Int = 3) -> AppSpec {
    AppSpec(
        name: "web-\(suffix)", image: image,
        command: ["/bin/sh", "-c", "trap 'exit 0' TERM; /bin/httpd -f -p 8080 & wait"], replicas: replicas,
        resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)),
        ports: [PortSpec(name: "http", container: 8080)],
        // The shell exits on SIGTERM (as PID 1 it has no default handler), so stops are quick.
        update: UpdateStrategy(stopGracePeriod: .seconds(1)))
}

/// Unique per test run, so concurrent runs and leftovers never collide.
let suffix = String(UUID().uuidString.prefix(6)).lowercased()

@Suite struct PassTests {
    @Test func passesOverTheFakeDriverConvergeToAnEmptyPlan() async throws {
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30)),
            images: ["web:1", "web:2"])
        let node = NodeSpec(name: "memory", backend: .docker(endpoint: "unix:///fake", tls: nil))
        let pass = Pass(nodes: [node], drivers: ["memory": driver])
        for image in ["web:1", "web:2"] {
            let desired = DesiredState(nodes: [node], apps: [webApp(image: image)])
            var passes = 0
            while passes < 10 {
                let result = await pass.run(desired: desired, revision: image, dryRun: false, now: Date())
                #expect(result.failures.isEmpty, "\(result.failures)")
                passes += 1
                if result.plan.actions.isEmpty { break }
            }
            #expect(passes < 10)
            let running = try await driver.list().filter { $0.status == .running }
            #expect(running.count == 3)
            #expect(running.allSatisfy { $0.labels[OwnershipLabels.spec] == SpecHash.of(webApp(image: image)) })
        }
    }

    /// A replica the kernel killed at its memory limit is observed so (a plain exit is not), and the
    /// status views say so.
    @Test func aReplicaKilledAtItsMemoryLimitIsObservedOutOfMemory() async throws {
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30)),
            images: ["web:1"])
        let node = NodeSpec(name: "memory", backend: .docker(endpoint: "unix:///fake", tls: nil))
        let pass = Pass(nodes: [node], drivers: ["memory": driver])
        let hungry = AppSpec(name: "hungry", image: "web:1", command: ["fake:oom"], replicas: 1)
        let plain = AppSpec(name: "plain", image: "web:1", command: ["fake:exit", "137"], replicas: 1)
        let desired = DesiredState(nodes: [node], apps: [hungry, plain])
        let first = await pass.run(desired: desired, revision: "r1", dryRun: false, now: Date())
        #expect(first.failures.isEmpty, "\(first.failures)")
        let seen = await pass.run(desired: desired, revision: "r1", dryRun: true, now: Date()).observed
        let byApp = Dictionary(grouping: seen.containers, by: \.app)
        #expect(byApp["hungry"]?.map(\.outOfMemory) == [true])
        #expect(byApp["plain"]?.map(\.outOfMemory) == [false])
        let views = Dictionary(grouping: StatusViews.replicas(seen), by: \.app)
        #expect(views["hungry"]?.map { "\($0.exitCode ?? -1) \($0.outOfMemory)" } == ["137 true"])
        #expect(views["plain"]?.map { "\($0.exitCode ?? -1) \($0.outOfMemory)" } == ["137 false"])
    }

    @Test(.timeLimit(.minutes(3))) func aRollingUpdateOnDockerKeepsReplicasUpAndConverges() async throws {
        let driver = try DockerDriver(node: "local", endpoint: "unix:///var/run/docker.sock")
        let node = NodeSpec(name: "local", backend: .docker(endpoint: "unix:///var/run/docker.sock", tls: nil))
        let pass = Pass(nodes: [node], drivers: ["local": driver])
        let name = webApp(image: "").name
        func ours() async throws -> [ContainerInfo] {
            try await driver.list().filter { $0.labels[OwnershipLabels.app] == name }
        }

        let v1 = DesiredState(nodes: [node], apps: [webApp(image: "reconcile-test/busybox:1")])
        let first = await pass.run(desired: v1, revision: "one", dryRun: false, now: Date())
        #expect(first.failures.isEmpty, "\(first.failures)")
        #expect(first.plan.starts.count == 3)
        #expect(await pass.run(desired: v1, revision: "one", dryRun: true, now: Date()).plan.actions.isEmpty)
        #expect(try await ours().count == 3)

        let v2 = DesiredState(nodes: [node], apps: [webApp(image: "reconcile-test/busybox:2")])
        var passes = 0
        while passes < 12 {
            let result = await pass.run(desired: v2, revision: "two", dryRun: false, now: Date())
            #expect(result.failures.isEmpty, "\(result.failures)")
            passes += 1
            let running = try await ours().filter { $0.status == .running }
            // maxSurge 1, maxUnavailable 0: between 3 and 4 replicas at every step.
            #expect(running.count >= 3 && running.count <= 4, "\(running.count) replicas after pass \(passes)")
            if result.plan.actions.isEmpty { break }
        }
        #expect(passes >= 4, "a rolling update of 3 replicas with maxSurge 1 takes several passes")
        let final = try await ours()
        #expect(final.count == 3)
        #expect(
            final.allSatisfy {
                $0.labels[OwnershipLabels.spec] == SpecHash.of(webApp(image: "reconcile-test/busybox:2"))
            })

        // Removed from git: removed from the node.
        let removed = await pass.run(
            desired: DesiredState(nodes: [node]), revision: "three", dryRun: false, now: Date())
        #expect(removed.plan.stops.count == 3)
        #expect(try await ours().isEmpty)
    }
}

@Suite struct ReconcilerTests {
    /// A new revision that never runs (it exits at once) misses its deadline, is rolled back to the
    /// last good one, and is not rolled out again: the store remembers both across passes.
    @Test func aBrokenRevisionRollsBackAndStaysRolledBack() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("reconciler-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 8000), memory: MemoryQuantity(bytes: 8 << 30)),
            images: ["web:1", "web:2"])
        let node = NodeSpec(name: "memory", backend: .docker(endpoint: "unix:///fake", tls: nil))
        let reconciler = Reconciler(
            pass: Pass(nodes: [node], drivers: ["memory": driver]), store: try Store(stateDirectory: folder))
        func spec(_ image: String, _ command: [String]) -> AppSpec {
            AppSpec(
                name: "web", image: image, command: command, replicas: 2,
                resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 64 << 20)))
        }
        let good = spec("web:1", ["fake:sleep"])
        let broken = spec("web:2", ["fake:exit", "1"])
        var now = Date()
        for _ in 0..<3 {
            _ = try await reconciler.run(
                desired: DesiredState(nodes: [node], apps: [good]), revision: "one", dryRun: false, now: now)
        }
        #expect(try reconciler.store.rollouts().good["web"] == good)

        // The broken revision: its replicas exit; after the progress deadline it is rolled back.
        var rolledBack = false
        for _ in 0..<8 {
            now = now.addingTimeInterval(120)
            let result = try await reconciler.run(
                desired: DesiredState(nodes: [node], apps: [broken]), revision: "two", dryRun: false, now: now)
            if result.plan.actions.contains(.rollback(app: "web", failedHash: SpecHash.of(broken))) {
                rolledBack = true
            }
        }
        #expect(rolledBack)
        #expect(try reconciler.store.rollouts().failed["web"] == SpecHash.of(broken))
        let running = try await driver.list().filter { $0.status == .running }
        #expect(running.count == 2)
        #expect(running.allSatisfy { $0.labels[OwnershipLabels.spec] == SpecHash.of(good) })
        let final = try await reconciler.run(
            desired: DesiredState(nodes: [node], apps: [broken]), revision: "two", dryRun: false, now: now)
        #expect(final.plan.actions.isEmpty)
        #expect(try reconciler.store.passes(limit: 100).count == 12)
    }
}
