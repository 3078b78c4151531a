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

    /// With the stream live, an engine nothing happened on is not listed again; a change the
    /// driver made, one made by hand and a container started by hand are each in the next listing.
    @Test(.timeLimit(.minutes(3))) func aQuietEngineIsListedOnceAndEveryChangeIsSeen() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "listing", endpoint: engine.endpoint)
        let notices = try #require(driver.exitNotices())
        #expect(try await eventually(30) { notices.isLive })
        func taken() -> Int { driver.listingsTaken.load(ordering: .relaxed) }
        /// True once a listing is answered without asking the engine (the last events are in).
        func settles() async throws -> Bool {
            try await eventually(60) {
                let before = taken()
                _ = try await driver.list()
                return taken() == before
            }
        }

        let sleeper = try await driver.run(spec("sleeper", ["/bin/sleep", "60"]))
        // The driver's own start is in the listing right away (its event may not have come yet).
        let first = try await driver.list()
        #expect(first.first { $0.id == sleeper.id }?.status == .running)
        // Settled (the start's events heard): then listed no more while nothing happens.
        #expect(try await settles())
        let settled = taken()
        for _ in 0..<5 { #expect(try await driver.list().map(\.id).contains(sleeper.id)) }
        #expect(taken() == settled, "a quiet engine is not listed again")

        // Renamed by hand: a notice, and the next listing has the new name.
        let renamed = notices.mark
        let rename = try Command.run(["docker", "-H", engine.endpoint, "rename", sleeper.id, "sleeper-renamed"])
        #expect(rename.status == 0, "\(rename.stderr)")
        await ExitNotices.wait(any: [(notices, renamed)], timeout: 30)
        #expect(try await driver.list().first { $0.id == sleeper.id }?.name == "sleeper-renamed")
        #expect(taken() > settled)

        // Started by hand (no notice: a start is not one), found once its events come.
        let byHand = try Command.run([
            "docker", "-H", engine.endpoint, "run", "-d", "--network", "none", "--label",
            "\(ManagementLabel.key)=\(ManagementLabel.value)", TestImage.name, "/bin/sleep", "60",
        ])
        #expect(byHand.status == 0, "\(byHand.stderr)")
        let handID = byHand.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await eventually(60) { try await driver.list().contains { $0.id == handID } })

        // Stopped by the driver: exited in the very next listing.
        try await driver.stop(sleeper.id, grace: .seconds(0))
        #expect(try await driver.list().first { $0.id == sleeper.id }?.status == .exited)
        // A change the engine makes no event of (stopping a stopped container): still listed anew,
        // since nothing but the answer says what a change did.
        #expect(try await settles())
        let quiet = taken()
        try await driver.stop(sleeper.id, grace: .seconds(0))
        _ = try await driver.list()
        #expect(taken() == quiet + 1)
        try await driver.remove(sleeper.id)
        #expect(try await driver.list().contains { $0.id == sleeper.id } == false)
        try await driver.remove(handID)
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
