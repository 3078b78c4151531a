import Foundation
import NIOCore
import ReconcileAlerts
import ReconcileDrivers
import ReconcileModel
import ReconcileRuntime
import ReconcileTesting
import Testing

@Suite struct HealthTests {
    func probed(_ command: [String], threshold: Int = 3, startPeriod: Timespan = .zero) -> AppSpec {
        AppSpec(
            name: "web", command: ["fake:sleep"],
            health: HealthSpec(
                probe: .command(command), interval: .seconds(10), timeout: .seconds(1), failureThreshold: threshold,
                startPeriod: startPeriod))
    }

    func running() async throws -> (InMemoryDriver, ContainerInfo) {
        let driver = InMemoryDriver(node: "memory", capacity: .defaultRequest)
        let container = try await driver.run(ContainerSpec(name: "web-0", command: ["fake:sleep"]))
        return (driver, container)
    }

    /// Ready from the first success; probed once per interval; not ready after `failureThreshold`
    /// failures in a row (fewer keep it ready); ready again after one success.
    @Test func readinessFollowsProbesWithTheFailureThreshold() async throws {
        let (driver, container) = try await running()
        let monitor = HealthMonitor()
        let ok = probed(["fake:exit", "0"])
        let failing = probed(["fake:exit", "1"])
        let t0 = Date().addingTimeInterval(100)
        #expect(await monitor.readySince(app: ok, container: container, driver: driver, now: t0) == t0)
        // Within the interval the probe is not run again (a failing probe would not count).
        #expect(
            await monitor.readySince(app: failing, container: container, driver: driver, now: t0.addingTimeInterval(5))
                == t0)
        for (step, expected) in [(10.0, t0), (20, t0), (30, nil)] as [(TimeInterval, Date?)] {
            let now = t0.addingTimeInterval(step)
            #expect(await monitor.readySince(app: failing, container: container, driver: driver, now: now) == expected)
        }
        #expect(await monitor.lastError(container.id) == "command exited 1")
        let back = t0.addingTimeInterval(40)
        #expect(await monitor.readySince(app: ok, container: container, driver: driver, now: back) == back)
    }

    @Test func failuresInTheStartPeriodDoNotCount() async throws {
        let (driver, container) = try await running()
        let monitor = HealthMonitor()
        let start = try #require(container.startedAt)
        let ok = probed(["fake:exit", "0"], threshold: 1, startPeriod: .minutes(1))
        let failing = probed(["fake:exit", "1"], threshold: 1, startPeriod: .minutes(1))
        #expect(await monitor.readySince(app: ok, container: container, driver: driver, now: start) == start)
        let inStart = start.addingTimeInterval(30)
        #expect(await monitor.readySince(app: failing, container: container, driver: driver, now: inStart) == start)
        let after = start.addingTimeInterval(70)
        #expect(await monitor.readySince(app: failing, container: container, driver: driver, now: after) == nil)
    }

    /// An HTTP probe opens its own connection and closes it when answered: none is kept alive in a
    /// pool, where it would pass while the replica accepts no connection, and would hold one to
    /// whatever listens on the port.
    @Test(.timeLimit(.minutes(2))) func anHTTPProbeLeavesNoConnectionOpen() async throws {
        let backend = try await HTTPTestBackend.start("web")
        let app = AppSpec(
            name: "web", command: ["fake:sleep"], ports: [PortSpec(name: "http", container: 8080)],
            health: HealthSpec(probe: .http(port: "http", path: "/", expect: 200), timeout: .seconds(10)))
        let container = ContainerInfo(
            id: "c1", name: "web-0", labels: [:], status: .running, ports: [8080: backend.port])
        let driver = InMemoryDriver(node: "memory", capacity: .defaultRequest)
        for _ in 0..<2 {
            #expect(await HealthProbe.run(app.health!, app: app, container: container, driver: driver) == .healthy)
        }
        #expect(backend.stats.accepted == 2, "each probe connects anew: \(backend.stats)")
        let deadline = Date().addingTimeInterval(30)
        while backend.stats.open > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(backend.stats.open == 0, "a probe's connection stayed open: \(backend.stats)")
        await backend.stop()
    }

    @Test func withoutAProbeAReplicaIsReadyFromItsStart() async throws {
        let (driver, container) = try await running()
        let plain = AppSpec(name: "web", command: ["fake:sleep"])
        let ready = await HealthMonitor().readySince(app: plain, container: container, driver: driver, now: Date())
        #expect(ready == container.startedAt)
        var exited = container
        exited.status = .exited
        #expect(await HealthMonitor().readySince(app: plain, container: exited, driver: driver, now: Date()) == nil)
    }

    @Test func tcpProbesConnectToTheMappedHostPort() async throws {
        let backend = try await NamedBackend.start("up")
        let app = AppSpec(
            name: "web", command: ["fake:sleep"], ports: [PortSpec(name: "http", container: 8080)],
            health: HealthSpec(probe: .tcp(port: "http")))
        let driver = InMemoryDriver(node: "memory", capacity: .defaultRequest)
        let up = ContainerInfo(id: "c1", name: "web-0", labels: [:], status: .running, ports: [8080: backend.port])
        #expect(await HealthProbe.run(app.health!, app: app, container: up, driver: driver) == .healthy)
        // A port held bound and not listening: it refuses for as long as the test holds it.
        let refusing = try Loopback.refusingPort()
        defer { close(refusing.descriptor) }
        let down = ContainerInfo(
            id: "c2", name: "web-1", labels: [:], status: .running, ports: [8080: refusing.port])
        guard
            case .unhealthy(let reason) = await HealthProbe.run(app.health!, app: app, container: down, driver: driver)
        else {
            Issue.record("a closed port probed healthy")
            return
        }
        #expect(reason.hasPrefix("cannot connect to port http"))
        let unmapped = ContainerInfo(id: "c3", name: "web-2", labels: [:], status: .running)
        #expect(
            await HealthProbe.run(app.health!, app: app, container: unmapped, driver: driver)
                == .unhealthy("port http is not published on the node"))
    }
}
