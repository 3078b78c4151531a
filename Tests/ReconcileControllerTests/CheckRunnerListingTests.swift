import Foundation
import ReconcileAlerts
import ReconcileDrivers
import ReconcileModel
import ReconcileTesting
import Testing

/// Log checks read the controller's latest observation instead of listing the nodes again; a
/// replica removed since then is not one of the App's (not "unreadable").
@Suite struct CheckRunnerListingTests {
    @Test func aLogCheckReadsTheRecentObservation() async throws {
        let driver = InMemoryDriver(
            node: "a", capacity: Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: 1 << 30)))
        let labels = [OwnershipLabels.app: "web", OwnershipLabels.slot: "0", OwnershipLabels.spec: "h"]
        let old = try await driver.run(ContainerSpec(name: "web-0-old", command: ["fake:sleep"], labels: labels))
        let new = try await driver.run(ContainerSpec(name: "web-0-new", command: ["fake:sleep"], labels: labels))
        let now = Date()
        await driver.appendLog(new.id, [LogLine(time: now, stream: .stdout, text: "processed 10 events")])
        let observed = try await driver.list()
        try await driver.remove(old.id)  // replaced after the observation
        let listedBefore = await driver.listings
        let check = CheckSpec(
            name: "processing", app: "web",
            probe: .logs(pattern: "processed \\d+ events", mode: .match, within: .minutes(1)))
        let node = NodeSpec(name: "a", backend: .process)
        let runner = CheckRunner(nodes: [node], drivers: ["a": driver], listings: ["a": observed], listedAt: now)
        let result = await runner.run(check, previousMatch: nil, now: now)
        #expect(result.passed, "\(result.message)")
        #expect(await driver.listings == listedBefore)  // the observation was used: no listing
        // An old observation is not used: the node is listed afresh.
        let stale = CheckRunner(
            nodes: [node], drivers: ["a": driver], listings: ["a": observed], listedAt: now.addingTimeInterval(-60))
        #expect(await stale.run(check, previousMatch: nil, now: now).passed)
        #expect(await driver.listings == listedBefore + 1)
    }
}
