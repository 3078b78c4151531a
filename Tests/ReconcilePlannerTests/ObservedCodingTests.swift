import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// Observed replicas are stored (the controller's last-seen replicas of each node, read back when the
/// node goes silent): what an older build wrote still reads.
@Suite struct ObservedCodingTests {
    @Test func aReplicaStoredBeforeOutOfMemoryExistedStillDecodes() throws {
        let stored = Data(
            #"""
            [{"id":"c1","node":"a","app":"web","slot":2,"specHash":"h","resources":{"cpu":{"millicores":250},"memory":{"bytes":67108864}},"status":{"running":{}},"readySince":800000000,"startedAt":799999990,"restarts":1}]
            """#.utf8)
        let replicas = try JSONDecoder().decode([ObservedContainer].self, from: stored)
        #expect(replicas.count == 1)
        let replica = try #require(replicas.first)
        #expect(replica.outOfMemory == false)
        #expect(replica.slot == 2 && replica.restarts == 1 && replica.isRunning)
        #expect(replica.resources.memory == MemoryQuantity(bytes: 64 << 20))
        #expect(replica.readySince == Date(timeIntervalSinceReferenceDate: 800_000_000))
    }

    @Test func anOutOfMemoryExitRoundTrips() throws {
        let replica = ObservedContainer(
            id: "c1", node: "a", app: "web", slot: 0, specHash: "h", resources: .defaultRequest,
            status: .exited(code: 137, at: Date(timeIntervalSinceReferenceDate: 5)), startedAt: nil, restarts: 3,
            outOfMemory: true)
        let decoded = try JSONDecoder().decode(ObservedContainer.self, from: JSONEncoder().encode(replica))
        #expect(decoded == replica)
    }
}
