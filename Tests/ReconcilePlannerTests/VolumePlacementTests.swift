import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// Named volumes pin a workload to their node; an App on an exclusive volume stops its old
/// replica before the new one starts; the plan names a changed file.
@Suite struct VolumePlacementTests {
    let nodes = [node("node-a"), node("node-b"), node("node-c")]

    func stateful(image: String = "db:1", shared: Bool = false, on volumeNode: String = "node-b") -> AppSpec {
        var spec = app("db", replicas: 1, image: image)
        spec.volumes = [
            VolumeMount(source: .named("pgdata"), mount: "/var/lib/db", node: volumeNode, shared: shared)
        ]
        return spec
    }

    @Test func aReplicaGoesToTheNodeThatHoldsItsVolume() {
        // Without the volume the emptiest node in name order (node-a) would get it.
        let result = plan([stateful()], nodes)
        #expect(result.starts.map(\.node) == ["node-b"])
        #expect(
            result.changes.map(\.summary) == ["app db: 1 replica -> node-b (on node node-b: volume pgdata lives there)"]
        )
        // The decision stored for `reconcile explain` says why the others were passed over.
        #expect(
            result.starts.first?.placement?.rejected.map(\.description) == [
                "node-a: does not hold volume pgdata (its data lives on node node-b)",
                "node-c: does not hold volume pgdata (its data lives on node node-b)",
            ])
        // The other nodes are refused with the reason explain shows.
        let ledger = NodeLedger(observed: nodes, replicas: [])
        let demand = NodeLedger.Demand.replica(of: stateful(), spread: [:])
        let reason = ledger.rejection(of: demand, on: ledger.nodes[0])
        #expect(reason == .cannotRun("does not hold volume pgdata (its data lives on node node-b)"))
        #expect(ledger.rejection(of: demand, on: ledger.nodes[1]) == nil)
    }

    @Test func whenItsNodeIsFullTheReplicaWaitsRatherThanMoving() {
        let full = [node("node-a"), node("node-b", cpu: 100), node("node-c")]
        let result = plan([stateful()], full)
        #expect(result.starts.isEmpty)
        #expect(result.changes.first?.unplaceable.isEmpty == false)
    }

    @Test func anExclusiveVolumeStopsTheOldReplicaBeforeTheNewOneStarts() {
        let v1 = stateful(image: "db:1")
        let v2 = stateful(image: "db:2")
        let result = plan([v2], nodes, [replica(of: v1, slot: 0, on: "node-b")], previous: ["db": v1])
        // Both in one plan: the executor finishes the stops before it starts anything.
        #expect(result.stops.map(\.reason) == [.replaced])
        #expect(result.starts.map(\.node) == ["node-b"])
        #expect(
            result.changes.map(\.summary) == [
                "app db: image db:1 -> image db:2 (stop before start: volume pgdata is not shared)"
            ])
        // Shared: the usual surge, the old replica stays until the new one is ready.
        let s1 = stateful(image: "db:1", shared: true)
        let s2 = stateful(image: "db:2", shared: true)
        let surged = plan([s2], nodes, [replica(of: s1, slot: 0, on: "node-b")], previous: ["db": s1])
        #expect(surged.stops.isEmpty)
        #expect(surged.starts.count == 1)
    }

    @Test func theUpdateSummaryNamesEachChangedFile() {
        var v1 = app("api", replicas: 1)
        v1.files = [
            FileSpec(path: "/etc/api/config.yaml", source: .repository(path: "api.yaml", content: Data("a: 1".utf8))),
            FileSpec(path: "/etc/api/old.conf", source: .inline("x")),
        ]
        var v2 = v1
        v2.files = [
            FileSpec(path: "/etc/api/config.yaml", source: .repository(path: "api.yaml", content: Data("a: 2".utf8))),
            FileSpec(path: "/etc/api/new.conf", source: .inline("y")),
        ]
        #expect(SpecHash.of(v1) != SpecHash.of(v2))
        let result = plan([v2], nodes, [replica(of: v1, slot: 0, on: "node-a")], previous: ["api": v1])
        #expect(
            result.changes.map(\.summary) == [
                "app api: file /etc/api/config.yaml changed, file /etc/api/new.conf added, "
                    + "file /etc/api/old.conf removed (rolling: 1 replicas, maxSurge 1, maxUnavailable 0)"
            ])
        // A mode change is a change too; the same content is not.
        var chmod = v1
        chmod.files[0].mode = 0o600
        #expect(SpecHash.of(chmod) != SpecHash.of(v1))
        // Apps without files or volumes keep the hash they had before these fields existed.
        #expect(
            SpecHash.of(app("api", replicas: 1))
                == SpecHash.of(
                    AppSpec(
                        name: "api", image: "web:1", replicas: 1,
                        resources: Resources(
                            cpu: CPUQuantity(millicores: 500), memory: MemoryQuantity(bytes: 256 << 20)))))
    }
}
