import Foundation
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileDrivers

/// A test engine's bridge keeps one MAC address while containers come and go, as the bridges
/// dockerd creates do. A bridge without one takes its lowest port's address, so stopping a
/// container could change the gateway's MAC under the others: what they sent to the host was lost
/// until their ARP entries were renewed, and the rollout tests' requests stalled mid-answer.
@Suite struct TestEngineBridgeTests {
    @Test(.timeLimit(.minutes(3))) func theBridgeKeepsItsAddressWhileContainersComeAndGo() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: "bridge", endpoint: engine.endpoint)
        func read(_ file: String) throws -> String {
            try String(contentsOfFile: "/sys/class/net/\(engine.bridge)/\(file)", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // 3: the address was set (NET_ADDR_SET), so the kernel does not recalculate it.
        #expect(try read("addr_assign_type") == "3")
        let address = try read("address")
        func spec(_ name: String) -> ContainerSpec {
            ContainerSpec(
                name: name, image: TestImage.name, command: ["/bin/sleep", "60"],
                resources: Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)))
        }
        let staying = try await driver.run(spec("staying-\(UUID().uuidString.prefix(8))"))
        var seen: Set<String> = [address]
        for round in 0..<4 {
            let passing = try await driver.run(spec("passing-\(round)-\(UUID().uuidString.prefix(8))"))
            seen.insert(try read("address"))
            try await driver.remove(passing.id)
            seen.insert(try read("address"))
        }
        #expect(seen == [address], "the bridge's address changed as veths came and went: \(seen.sorted())")
        try await driver.remove(staying.id)
    }
}
