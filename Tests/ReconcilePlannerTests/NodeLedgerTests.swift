import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// The one ledger Apps and tasks are placed on: the predicate, occupation, scoring and the holds that
/// put Apps first.
@Suite struct NodeLedgerTests {
    func ledgerNode(_ name: String, cpu: Int64 = 1000, memory: Int64 = gi, process: Bool = false) -> NodeLedger.Node {
        NodeLedger.Node(
            name: name, capacity: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory)),
            isProcessNode: process)
    }

    func job(_ name: String, cpu: Int64, memory: Int64 = 64 << 20, image: Bool = true) -> TaskSpec {
        TaskSpec(
            name: name, image: image ? "job:1" : nil, command: image ? nil : ["run"],
            resources: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory)))
    }

    /// An App and a task compete for one node: the App is booked first (its plan's ledger), and the
    /// task waits for the room the App took, with the node's reason.
    @Test func anAppIsBookedBeforeATaskOnTheSameNode() throws {
        let web = app("web", replicas: 1, cpu: 800, memory: 256 << 20)
        let result = plan([web], [node("node-a", cpu: 1000, memory: gi)])
        #expect(result.starts.map(\.node) == ["node-a"])
        var ledger = result.ledger
        #expect(ledger.free["node-a"] == NodeLedger.Room(cpu: 200, memory: gi - (256 << 20)))
        guard case .failure(let unfit) = ledger.place(.task(job("load", cpu: 500))) else {
            Issue.record("the task took the App's room")
            return
        }
        #expect(unfit.reason == "needs cpu 500m, largest free is 200m (node-a)")
        #expect(unfit.rejected == [NodeLedger.Rejection(node: "node-a", cause: .cpu(needs: 500, free: 200))])
        #expect(unfit.rejected.map(\.description) == ["node-a: needs cpu 500m, 200m free"])
        // A task that fits in what is left is placed there and booked.
        let small = try ledger.place(.task(job("small", cpu: 150))).get()
        #expect(small.node == "node-a")
        #expect(ledger.free["node-a"]?.cpu == 50)
    }

    /// A replica that fits nowhere holds every node that could run it: tasks do not take the room it
    /// waits for there, but still run on nodes the App cannot use.
    @Test func aWaitingReplicaHoldsTheNodesItCouldUse() throws {
        let big = app("big", replicas: 1, cpu: 2000, memory: 256 << 20)
        let result = plan([big], [node("docker-a", cpu: 1000, memory: gi), node("local", process: true)])
        #expect(result.starts.isEmpty)
        #expect(result.changes.first?.unplaceable.map(\.reason) == ["needs cpu 2, largest free is 1 (docker-a)"])
        var ledger = result.ledger
        #expect(ledger.holds == ["docker-a": ["big"]])
        guard case .failure(let unfit) = ledger.place(.task(job("extract", cpu: 100))) else {
            Issue.record("a task took a node held for a waiting replica")
            return
        }
        #expect(unfit.reason == "App replicas waiting for room are placed first (big)")
        #expect(
            unfit.rejected.map(\.description).contains(
                "docker-a: held for App replicas waiting for room (big); Apps are placed before tasks"))
        // A command task runs on the process node, which the image App cannot use.
        #expect(try ledger.place(.task(job("script", cpu: 100, image: false))).get().node == "local")
    }

    /// One scoring for both: work goes to a node in use while the nodes in use can take it (the
    /// fewest nodes), spreading Apps first, and each other node says why it was not chosen.
    @Test func scoringPacksNodesSpreadsAppsAndExplainsEveryNode() throws {
        var ledger = NodeLedger(nodes: [ledgerNode("a"), ledgerNode("b"), ledgerNode("c")])
        ledger.book(Resources(cpu: CPUQuantity(millicores: 300), memory: MemoryQuantity(bytes: 128 << 20)), on: "b")
        let packed = try ledger.place(.task(job("t1", cpu: 200))).get()
        #expect(packed.node == "b")  // in use, and the work fits on one node
        #expect(packed.score.opensNode == false)
        #expect(packed.rejected.map(\.node) == ["a", "c"])
        #expect(packed.rejected.allSatisfy { $0.reason.hasPrefix("fits, but ranks lower: ") })
        #expect(packed.rejected.first?.reason.hasSuffix("would open an empty node") == true)

        // A spreading App goes to a node without one of its replicas, even when that opens a node.
        let web = app("web", replicas: 2, cpu: 100, memory: 64 << 20)
        ledger.nodeTarget = 2  // as the app planner sets it: at least the widest spreading App's replicas
        let spread = try ledger.place(.replica(of: web, spread: ["b": 1])).get()
        #expect(spread.node != "b")
        #expect(spread.rejected.first { $0.node == "b" }?.reason.contains("1 replica of the app already there") == true)

        // An unreachable node is never chosen, and says so.
        var down = NodeLedger(nodes: [
            ledgerNode("a"),
            NodeLedger.Node(name: "z", capacity: .defaultRequest, isProcessNode: false, reachable: false),
        ])
        let placed = try down.place(.task(job("t", cpu: 10))).get()
        #expect(placed.node == "a")
        #expect(placed.rejected.map(\.description) == ["z: not answering"])
    }

    /// Within the nodes in use, the one with the most room left in its scarcer resource, so cpu and
    /// memory fill evenly.
    @Test func theScarcerResourceDecidesBetweenNodesInUse() throws {
        var ledger = NodeLedger(nodes: [
            ledgerNode("a", cpu: 2000, memory: 2 * gi), ledgerNode("b", cpu: 2000, memory: 2 * gi),
        ])
        ledger.nodeTarget = 2
        // a: cpu nearly full, memory free; b: both half used.
        ledger.book(Resources(cpu: CPUQuantity(millicores: 1800), memory: MemoryQuantity(bytes: 1 << 20)), on: "a")
        ledger.book(Resources(cpu: CPUQuantity(millicores: 1000), memory: MemoryQuantity(bytes: gi)), on: "b")
        let placed = try ledger.place(.task(job("t", cpu: 100, memory: 64 << 20))).get()
        #expect(placed.node == "b")
        #expect(placed.score.scarcerLeft < 0.5)
    }

    /// The predicate validation and placement share.
    @Test func theRequirementNamesTheFirstThingANodeLacks() {
        let image = NodeRequirement(image: true, command: false, labels: ["disk": "ssd", "zone": "a"])
        #expect(
            image.rejection(isProcessNode: true, labels: [:])
                == "a process node runs commands, and this names only an image")
        #expect(image.rejection(isProcessNode: false, labels: ["disk": "ssd"]) == "lacks label zone=a")
        #expect(image.rejection(isProcessNode: false, labels: ["disk": "ssd", "zone": "a"]) == nil)
        let command = NodeRequirement(image: false, command: true)
        #expect(
            command.rejection(isProcessNode: false, labels: [:]) == "a Docker node runs images, and this names no image"
        )
        #expect(NodeRequirement(image: true, command: true).rejection(isProcessNode: true, labels: [:]) == nil)
    }
}
