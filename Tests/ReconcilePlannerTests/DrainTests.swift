import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// A draining node is full to the ledger, and its replicas move off it like a rolling update.
@Suite struct DrainTests {
    func draining(_ name: String, deadline: Date? = nil) -> ObservedNode {
        var drained = node(name)
        drained.schedulable = false
        drained.drainDeadline = deadline
        return drained
    }

    @Test func theLedgerTreatsADrainingNodeAsFull() throws {
        var ledger = NodeLedger(observed: [draining("a"), node("b", cpu: 1000)], replicas: [])
        let web = app("web", cpu: 600)
        let first = ledger.place(.replica(of: web, spread: [:]))
        #expect(try first.get().node == "b")
        #expect(try first.get().rejected.first { $0.node == "a" }?.cause == .draining)
        // b is now too full for a second one, and a is draining: nowhere, and the reason says why.
        guard case .failure(let unfit) = ledger.place(.replica(of: web, spread: [:])) else {
            Issue.record("placed on a draining node")
            return
        }
        #expect(unfit.rejected.contains { $0.node == "a" && $0.cause == .draining })
        // Tasks too.
        var tasks = NodeLedger(observed: [draining("a")], replicas: [])
        guard case .failure(let reason) = tasks.place(.task(TaskSpec(name: "t", image: "etl:1"))) else {
            Issue.record("a task was placed on a draining node")
            return
        }
        #expect(reason.reason.contains("draining"), "\(reason.reason)")
    }

    @Test func replicasMoveOffADrainingNodeOneReadyReplacementAtATime() {
        let web = app("web", replicas: 2, maxSurge: 1, maxUnavailable: 0)
        let running = [replica(of: web, slot: 0, on: "a"), replica(of: web, slot: 1, on: "b")]
        // Step 1: a replacement for a's replica starts elsewhere; a's replica keeps serving.
        let first = plan([web], [draining("a"), node("b"), node("c")], running)
        #expect(first.starts.count == 1)
        #expect(first.starts.first?.node != "a")
        #expect(first.starts.first?.slot == 0)
        #expect(first.stops.isEmpty, "stopped before the replacement is ready: \(first.stops)")
        #expect(first.changes.first?.kind == .moved)
        #expect(first.changes.first?.summary.contains("off draining a") == true, "\(first.changes)")
        // Step 2: the replacement is ready: the drained replica stops, nothing new starts.
        let replacement = replica(of: web, slot: 0, on: first.starts[0].node, id: "new")
        let second = plan([web], [draining("a"), node("b"), node("c")], running + [replacement])
        #expect(second.starts.isEmpty)
        #expect(second.stops.map(\.containerID) == [running[0].id])
        #expect(second.stops.first?.reason == .drained)
        // Done: nothing left to do, no rollout, no rollback.
        let done = plan([web], [draining("a"), node("b"), node("c")], [running[1], replacement])
        #expect(done.actions.isEmpty, "\(done.actions)")
    }

    @Test func aDrainNeverRollsBackEvenWhenTheReplacementIsSlow() {
        let web = app("web", replicas: 1)
        let old = replica(of: web, slot: 0, on: "a", startedAgo: 86_400)
        let waiting = replica(of: web, slot: 0, on: "b", ready: false, startedAgo: 3600, id: "new")
        let result = plan([web], [draining("a"), node("b")], [old, waiting])
        #expect(!result.actions.contains { if case .rollback = $0 { true } else { false } })
        #expect(result.stops.isEmpty, "the only ready replica stopped: \(result.stops)")
    }

    @Test func pastTheDeadlineReplicasStopWithoutWaiting() {
        let web = app("web", replicas: 1)
        let old = replica(of: web, slot: 0, on: "a")
        let waiting = replica(of: web, slot: 0, on: "b", ready: false, id: "new")
        let before = plan([web], [draining("a", deadline: now.addingTimeInterval(60)), node("b")], [old, waiting])
        #expect(before.stops.isEmpty)
        let after = plan([web], [draining("a", deadline: now.addingTimeInterval(-1)), node("b")], [old, waiting])
        #expect(after.stops.map(\.containerID) == [old.id])
    }

    @Test func everyAbleNodeDrainingIsSaidSo() {
        let web = app("web", replicas: 1)
        let result = plan([web], [draining("a"), draining("b")])
        #expect(result.starts.isEmpty)
        let reason = result.changes.first?.unplaceable.first?.reason ?? ""
        #expect(reason.contains("draining (a, b)"), "\(reason)")
    }

    @Test func aMissingDockerNetworkIsAPlacementReason() {
        var web = app("web", replicas: 1)
        web.network = .named("etl")
        var a = node("a")
        a.networks = ["bridge", "host", "none"]
        var b = node("b")
        b.networks = ["bridge", "etl"]
        let result = plan([web], [a, b])
        #expect(result.starts.map(\.node) == ["b"])
        a.networks = ["bridge"]
        let nowhere = plan([web], [a])
        let reason = nowhere.changes.first?.unplaceable.first?.reason ?? ""
        #expect(reason.contains("has no Docker network \"etl\""), "\(reason)")
    }

    /// `--dry-run --against` says what a commit does to nodes and registries (never a password).
    @Test func theOfflinePlanSaysWhatHappensToNodesAndRegistries() {
        let a = NodeSpec(name: "a", backend: .docker(endpoint: "tcp://10.0.0.1:2376", tls: nil))
        let b = NodeSpec(name: "b", backend: .docker(endpoint: "tcp://10.0.0.2:2376", tls: nil))
        var drained = a
        drained.schedulable = false
        let registry = RegistrySpec(
            name: "private", server: "registry.local:5000", username: "ci", password: .environment("REGISTRY_PASSWORD"))
        let old = DesiredState(nodes: [a, b])
        let new = DesiredState(nodes: [drained], registries: [registry])
        let lines = DesiredDiff.compare(from: old, to: new, now: now).lines.map { "\($0.marker.rawValue) \($0.text)" }
        #expect(
            lines == [
                "~ node a: schedulable: false: drained (no new work; its replicas move to other nodes)",
                "- node b: removed; drained first, forgotten once nothing of ours runs there",
                "+ registry private: new (registry.local:5000)",
            ], "\(lines)")
        #expect(!lines.joined().contains("REGISTRY_PASSWORD"))
    }
}
