import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileTesting
import Testing

/// A pass that keeps its nodes' readings, its observation, its settled plan and its spec hashes
/// (`ObservationMemory`) must answer exactly what a pass without memory answers, whatever happened
/// in between.
@Suite struct ObservationMemoryTests {
    static let capacity = Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 4 << 30))

    static func app(_ index: Int, image: String = "img:1", replicas: Int = 2) -> AppSpec {
        var app = AppSpec(
            name: "app-\(index)", image: image, replicas: replicas,
            resources: Resources(cpu: CPUQuantity(millicores: 250), memory: MemoryQuantity(bytes: 64 << 20)),
            ports: [PortSpec(name: "http", container: 8080, publish: 18_000 + index, mode: .http)],
            update: UpdateStrategy(minReadyTime: index % 3 == 0 ? .seconds(20) : .zero, stopGracePeriod: .seconds(1)))
        // Every third App has a probe: a command that fails on the image "img:sick".
        if index % 3 == 1 {
            app.health = HealthSpec(
                probe: .command(image == "img:sick" ? ["fake:exit", "1"] : ["true"]), interval: .seconds(5),
                failureThreshold: 1)
        }
        return app
    }

    @Test func aPassWithMemoryAnswersAsAPassWithoutOverRandomChanges() async throws {
        var random = SeededGenerator(seed: 20_261_202)
        let images: Set<String> = ["img:1", "img:2", "img:sick"]
        // One node lists in full (as process nodes do), two list summaries (as Docker does).
        let nodes = (0..<3).map { NodeSpec(name: "n\($0)", backend: .docker(endpoint: "unix:///fake/\($0)", tls: nil)) }
        var drivers: [String: InMemoryDriver] = [:]
        for (index, node) in nodes.enumerated() {
            drivers[node.name] = InMemoryDriver(
                node: node.name, capacity: Self.capacity, images: images, listsFullState: index == 0)
        }
        let health = HealthMonitor()
        let kept = Pass(nodes: nodes, drivers: drivers, health: health)
        var apps = (0..<6).map { Self.app($0) }
        var clock = Date()
        var failedRollouts: [String: String] = [:]
        // What the controller keeps in its store between passes: since when a node has not answered,
        // and what each node ran when it last answered.
        var unreachableSince: [String: Date] = [:]
        var lastSeen: [String: [ObservedContainer]] = [:]
        var steps: [String: Int] = [:]
        for step in 0..<120 {
            // Changes of every kind, and applying the plan often enough for the cluster to settle.
            let kinds = [
                "app", "stop", "remove", "node", "rollout", "time", "time", "apply", "apply", "apply", "apply",
            ]
            let kind = kinds[Int(random.next(upperBound: UInt(kinds.count)))]
            let driver = drivers["n\(random.next(upperBound: UInt(3)))"]!
            switch kind {
            case "app":  // a new image, replica count or probe outcome for one App
                let index = Int(random.next(upperBound: UInt(apps.count)))
                let image = ["img:1", "img:2", "img:1", "img:2", "img:sick"][Int(random.next(upperBound: UInt(5)))]
                apps[index] = Self.app(index, image: image, replicas: 1 + Int(random.next(upperBound: UInt(3))))
            case "stop":  // a container stops on its own
                // (Not while the node is unreachable: then nothing can be asked of it.)
                if let victim = try? await driver.list().filter({ $0.status == .running }).first {
                    try await driver.stop(victim.id, grace: .zero)
                }
            case "remove":  // a container is removed by hand, or a foreign one appears
                if random.next(upperBound: UInt(2)) == 0, let victim = try? await driver.list().first {
                    try await driver.remove(victim.id)
                } else {
                    _ = await driver.addForeignContainer(name: "foreign-\(step)")
                }
            case "node":  // a node stops answering, or answers again
                await driver.setUnreachable(!(await driver.unreachable))
            case "rollout":  // a rollout recorded as failed, or the record cleared
                let index = Int(random.next(upperBound: UInt(apps.count)))
                if failedRollouts[apps[index].name] == nil {
                    failedRollouts[apps[index].name] = SpecHash.of(apps[index])
                } else {
                    failedRollouts[apps[index].name] = nil
                }
            case "time":  // time passes: minReadyTime, probes and crash backoffs come due
                clock += TimeInterval(1 + random.next(upperBound: UInt(25)))
            default:  // the plan is applied (now and then after nodes answer again and a fix is committed)
                if random.next(upperBound: UInt(2)) == 0 {
                    for driver in drivers.values { await driver.setUnreachable(false) }
                    failedRollouts = [:]
                }
                let desired = DesiredState(nodes: nodes, apps: apps)
                _ = await kept.run(
                    desired: desired, revision: "r", dryRun: false, now: clock, failedRollouts: failedRollouts,
                    unreachableSince: unreachableSince, lastSeen: lastSeen)
            }
            steps[kind, default: 0] += 1
            // Twice: the second pass meets nothing new (its observation and plan may be reused).
            for _ in 0..<2 {
                let desired = DesiredState(nodes: nodes, apps: apps)
                let withMemory = await kept.run(
                    desired: desired, revision: "r", dryRun: true, now: clock, failedRollouts: failedRollouts,
                    unreachableSince: unreachableSince, lastSeen: lastSeen)
                let fresh = await Pass(nodes: nodes, drivers: drivers, health: health).run(
                    desired: desired, revision: "r", dryRun: true, now: clock, failedRollouts: failedRollouts,
                    unreachableSince: unreachableSince, lastSeen: lastSeen)
                for node in fresh.observed.nodes {
                    unreachableSince[node.name] = node.unreachableSince
                    if node.unreachableSince == nil {
                        lastSeen[node.name] = fresh.observed.containers.filter { $0.node == node.name && $0.isRunning }
                    }
                }
                #expect(withMemory.observed.nodes == fresh.observed.nodes, "step \(step) (\(kind)): nodes")
                #expect(
                    withMemory.observed.containers == fresh.observed.containers,
                    "step \(step) (\(kind)): \(withMemory.observed.containers.map(\.id)) \(fresh.observed.containers.map(\.id))"
                )
                #expect(withMemory.plan == fresh.plan, "step \(step) (\(kind)): plan")
                #expect(withMemory.published == fresh.published, "step \(step) (\(kind)): published")
            }
        }
        // Both ways were taken, many times.
        #expect(kept.memory.nodesReused >= 20, "node readings reused: \(kept.memory.nodesReused)")
        #expect(kept.memory.plansReused >= 10, "settled plans reused: \(kept.memory.plansReused)")
        #expect(kept.memory.observationsReused >= 30, "observations reused: \(kept.memory.observationsReused)")
        #expect(steps.count == 7, "\(steps)")
    }

    @Test func aSettledPlanIsReusedOnlyWhileNothingItReadsChanged() async throws {
        let node = NodeSpec(name: "n", backend: .docker(endpoint: "unix:///fake", tls: nil))
        let driver = InMemoryDriver(node: "n", capacity: Self.capacity, images: ["img:1", "img:2"])
        let pass = Pass(nodes: [node], drivers: ["n": driver])
        var app = Self.app(0)  // minReadyTime 20 s
        _ = await pass.run(
            desired: DesiredState(nodes: [node], apps: [app]), revision: "r", dryRun: false, now: Date())
        // The passes' times count from the replicas' start (which a busy machine may delay).
        let start = try #require(try await driver.list().compactMap(\.startedAt).max())
        func plan(_ app: AppSpec, at now: Date) async -> Plan {
            await pass.run(desired: DesiredState(nodes: [node], apps: [app]), revision: "r", dryRun: true, now: now)
                .plan
        }
        // Started but not ready for 20 s yet: not settled, planned every pass.
        #expect(await plan(app, at: start + 1).actions.isEmpty)
        #expect(await plan(app, at: start + 2).actions.isEmpty)
        #expect(pass.memory.plansReused == 0)
        // Ready past minReadyTime: settled; the next pass with the same inputs reuses it.
        #expect(await plan(app, at: start + 30).actions.isEmpty)
        #expect(await plan(app, at: start + 31).actions.isEmpty)
        #expect(pass.memory.plansReused == 1)
        // Nothing changed between these passes but the time: their observation is the last one.
        #expect(pass.memory.observationsReused >= 3)
        // An earlier time than the settled plan's is planned again.
        _ = await plan(app, at: start + 29)
        #expect(pass.memory.plansReused == 1)
        // A new image: planned, and it starts a replica.
        app.image = "img:2"
        #expect(await plan(app, at: start + 40).starts.count == 1)
        #expect(pass.memory.plansReused == 1)
        // A replica that stopped: the listing changed, so the node is read again and the App restarts it.
        let reusedBefore = (pass.memory.nodesReused, pass.memory.observationsReused)
        app.image = "img:1"
        let running = try await driver.list().filter { $0.status == .running }
        try #require(!running.isEmpty)
        try await driver.stop(running[0].id, grace: .zero)
        let after = await plan(app, at: start + 41)
        #expect(pass.memory.nodesReused == reusedBefore.0)
        #expect(pass.memory.observationsReused == reusedBefore.1)
        #expect(!after.actions.isEmpty)
    }

    /// A node that stopped answering changes no input while it stays away, but the clock makes it
    /// lost: a plan made while it was away is not reused once it is.
    @Test func aPlanMadeWhileANodeIsAwayIsNotReusedOnceItIsLost() async throws {
        let nodes = ["a", "b"].map { NodeSpec(name: $0, backend: .docker(endpoint: "unix:///fake/\($0)", tls: nil)) }
        let drivers = Dictionary(
            uniqueKeysWithValues: nodes.map {
                ($0.name, InMemoryDriver(node: $0.name, capacity: Self.capacity, images: ["img:1"]))
            })
        let pass = Pass(nodes: nodes, drivers: drivers)
        let desired = DesiredState(nodes: nodes, apps: [Self.app(2)])  // 2 replicas, spread
        _ = await pass.run(desired: desired, revision: "r", dryRun: false, now: Date())
        var started: [Date] = []
        for driver in drivers.values { started += try await driver.list().compactMap(\.startedAt) }
        let start = try #require(started.max())
        let settled = await pass.run(desired: desired, revision: "r", dryRun: true, now: start + 1)
        try #require(settled.plan.actions.isEmpty)
        let onB = settled.observed.containers.filter { $0.node == "b" }
        try #require(onB.count == 1)
        await drivers["b"]!.setUnreachable(true)
        let away: [String: Date] = ["b": start + 2]
        func plan(at now: Date) async -> Plan {
            await pass.run(
                desired: desired, revision: "r", dryRun: true, now: now, unreachableSince: away, lastSeen: ["b": onB]
            ).plan
        }
        // Away, not yet lost: nothing to do (its replica is taken to run still), twice.
        #expect(await plan(at: start + 3).actions.isEmpty)
        #expect(await plan(at: start + 4).actions.isEmpty)
        // Told it went away long ago: lost now, its replica starts on the other node.
        let lostLongAgo = await pass.run(
            desired: desired, revision: "r", dryRun: true, now: start + 5, unreachableSince: ["b": start - 100],
            lastSeen: ["b": onB])
        #expect(lostLongAgo.plan.starts.map(\.node) == ["a"])
        // Lost a minute after it went away: its replica starts on the other node.
        #expect(await plan(at: start + 70).starts.map(\.node) == ["a"])
    }

    /// A probe that starts failing changes nothing a listing shows: the pass still sees it.
    @Test func aProbeThatStartsFailingIsSeenThoughNothingElseChanged() async throws {
        let node = NodeSpec(name: "n", backend: .docker(endpoint: "unix:///fake", tls: nil))
        let driver = InMemoryDriver(node: "n", capacity: Self.capacity, images: ["img:1"])
        let pass = Pass(nodes: [node], drivers: ["n": driver])
        var app = Self.app(1, replicas: 1)  // probed every 5 s, not ready after one failure
        app.update.minReadyTime = .zero
        let desired = DesiredState(nodes: [node], apps: [app])
        _ = await pass.run(desired: desired, revision: "r", dryRun: false, now: Date())
        let id = try #require(try await driver.list().first?.id)
        let start = try #require(try await driver.list().first?.startedAt)
        func readySince(at now: Date) async -> Date?? {
            await pass.run(desired: desired, revision: "r", dryRun: true, now: now).observed.containers.first?
                .readySince
        }
        #expect(await readySince(at: start + 1) == .some(start + 1))
        #expect(await readySince(at: start + 2) == .some(start + 1))
        #expect(pass.memory.observationsReused >= 1)
        await driver.setExecResult(id, 1)
        // Not due yet: still ready; due: probed, failed, not ready.
        #expect(await readySince(at: start + 3) == .some(start + 1))
        #expect(await readySince(at: start + 7) == .some(nil))
    }

    /// On a real engine: a pass over a quiet engine reuses the last observation and plan (the
    /// listing is kept until the event stream hears a change), and a container stopped by hand is
    /// seen by the first pass after its event.
    @Test(.timeLimit(.minutes(3))) func onADockerEngineAQuietPassIsReusedAndAStopByHandIsSeen() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "d", endpoint: engine.endpoint)
        let notices = try #require(driver.exitNotices())
        func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if try await condition() { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return try await condition()
        }
        #expect(try await eventually { notices.isLive })
        let node = NodeSpec(name: "d", backend: .docker(endpoint: engine.endpoint, tls: nil))
        let pass = Pass(nodes: [node], drivers: ["d": driver])
        let app = AppSpec(
            name: "quiet", image: TestImage.name, command: ["/bin/sleep", "600"], replicas: 2,
            resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)),
            update: UpdateStrategy(stopGracePeriod: .zero), network: .none)
        let desired = DesiredState(nodes: [node], apps: [app])
        var applied = 0
        while applied < 5 {
            applied += 1
            let result = await pass.run(desired: desired, revision: "r", dryRun: false, now: Date())
            #expect(result.failures.isEmpty, "\(result.failures)")
            if result.plan.actions.isEmpty { break }
        }
        // Once the starts' events are in, a pass over the quiet engine reuses what the last one saw.
        #expect(
            try await eventually {
                let before = pass.memory.observationsReused
                let first = await pass.run(desired: desired, revision: "r", dryRun: true, now: Date())
                let second = await pass.run(desired: desired, revision: "r", dryRun: true, now: Date())
                return first.plan.actions.isEmpty && second.plan.actions.isEmpty
                    && pass.memory.observationsReused > before
            })
        #expect(pass.memory.plansReused >= 1)

        // Stopped by hand: the first pass after its die event sees it, and restarts it.
        let running = try await driver.list().filter { $0.status == .running }
        try #require(running.count == 2)
        let mark = notices.mark
        let stop = try Command.run(["docker", "-H", engine.endpoint, "stop", "-t", "0", running[0].id])
        #expect(stop.status == 0, "\(stop.stderr)")
        await ExitNotices.wait(any: [(notices, mark)], timeout: 30)
        #expect(notices.mark != mark)
        let after = await pass.run(desired: desired, revision: "r", dryRun: true, now: Date())
        #expect(after.observed.containers.first { $0.id == running[0].id }?.isRunning == false)
        #expect(after.plan.starts.count == 1)
        for container in try await driver.list() { try await driver.remove(container.id) }
        await engine.shutdownOffPool()
    }
}
