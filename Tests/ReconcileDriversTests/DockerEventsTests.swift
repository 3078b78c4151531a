import Foundation
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileDrivers

/// Exit notices of a Docker node come from the engine's event stream: an exit is pushed (a start
/// is not), and after the engine restarts mid-run the stream resumes and wakes its waiters, so an
/// exit that happened while it was down is found.
@Suite struct DockerEventsTests {
    func eventually(_ seconds: TimeInterval, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    func spec(_ name: String, _ command: [String]) -> ContainerSpec {
        ContainerSpec(
            name: name, image: TestImage.name, command: command,
            resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)),
            network: .none)
    }

    @Test(.timeLimit(.minutes(3))) func anExitIsPushedAndAStartIsNot() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "events", endpoint: engine.endpoint)
        let notices = try #require(driver.exitNotices())
        #expect(try await eventually(30) { notices.isLive })
        // The same stream for every driver of the engine.
        #expect(try DockerDriver(node: "events", endpoint: engine.endpoint).exitNotices() === notices)

        let quiet = notices.mark
        let sleeper = try await driver.run(spec("sleeper", ["/bin/sleep", "60"]))
        await ExitNotices.wait(any: [(notices, quiet)], timeout: 2)
        #expect(notices.mark == quiet, "a start is no notice")

        let before = notices.mark
        // On the bridge, and with the smallest CPU limit there is (1m, raised to the engine's 10m
        // minimum; a quota under 1 ms would be refused).
        var bridged = spec("exiting", ["/bin/sh", "-c", "sleep 1; exit 3"])
        bridged.network = .bridge
        bridged.resources.cpu = CPUQuantity(millicores: 1)
        let exiting = try await driver.run(bridged)
        // Woken by the engine's die event (the wait's limit is far beyond the task's second).
        await ExitNotices.wait(any: [(notices, before)], timeout: 60)
        #expect(notices.mark != before)
        // The listing right after the notice shows the exit, although the engine updates its own
        // listing only once it has torn the container's network down (after the die event).
        #expect(try await driver.list().first { $0.id == exiting.id }?.status == .exited)
        #expect(try await driver.inspect(exiting.id)?.exitCode == 3)
        try await driver.remove(exiting.id)

        // A running container's full state is read once and then kept while the stream is live;
        // its exit and a start by hand after it are never answered from what was kept.
        func listed(_ id: String) async throws -> ContainerInfo {
            try #require(try await driver.list().first { $0.id == id })
        }
        let running = try #require(try await driver.fullState(of: listed(sleeper.id)))
        #expect(running.status == .running)
        #expect(try await driver.fullState(of: listed(sleeper.id)) == running)
        // Restarted by hand between two looks (a die, then a start): read afresh, not kept.
        try await Task.sleep(for: .milliseconds(1100))  // a new start time, in whole seconds too
        let beforeRestart = notices.mark
        let restarted = try Command.run(["docker", "-H", engine.endpoint, "restart", "-t", "0", sleeper.id])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        await ExitNotices.wait(any: [(notices, beforeRestart)], timeout: 30)
        let again = try await driver.fullState(of: listed(sleeper.id))
        #expect(again?.status == .running)
        #expect(
            (again?.startedAt ?? .distantPast) > (running.startedAt ?? .distantFuture), "read afresh after its exit")
        // Stopped: its exit, not what was kept.
        let beforeStop = notices.mark
        try await driver.stop(sleeper.id, grace: .seconds(0))
        await ExitNotices.wait(any: [(notices, beforeStop)], timeout: 30)
        let stopped = try await driver.fullState(of: listed(sleeper.id))
        #expect(stopped?.status == .exited)
        #expect(stopped?.exitCode == 137)
        try await driver.remove(sleeper.id)
        await engine.shutdownOffPool()
    }

    @Test(.timeLimit(.minutes(4))) func aDroppedStreamResumesAndWakesItsWaiters() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "restart", endpoint: engine.endpoint)
        let notices = try #require(driver.exitNotices())
        #expect(try await eventually(30) { notices.isLive })
        let task = try await driver.run(spec("task", ["/bin/sleep", "60"]))

        // The engine restarts mid-run; its containers stop with it, so the task's exit happens
        // while the stream is down (and the engine's event buffer does not survive the restart).
        engine.stop()
        #expect(try await eventually(30) { !notices.isLive }, "a dropped stream is not live (the runner polls)")
        let whileDown = notices.mark
        try engine.start()
        #expect(try await eventually(60) { notices.isLive }, "the stream resumes")
        await ExitNotices.wait(any: [(notices, whileDown)], timeout: 30)
        #expect(notices.mark != whileDown, "resuming wakes the waiters")
        // And the listing they then make shows the exit.
        #expect(try await driver.inspect(task.id)?.status == .exited)
        try? await driver.remove(task.id)
        await engine.shutdownOffPool()
    }
}
