import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

@Suite struct PlannerTests {
    let nodes = [node("node-a"), node("node-b"), node("node-c")]

    @Test func aNewAppIsSpreadOverNodes() {
        let web = app("web")
        let result = plan([web], nodes)
        #expect(result.starts.map(\.slot) == [0, 1, 2])
        #expect(Set(result.starts.map(\.node)) == ["node-a", "node-b", "node-c"])
        #expect(result.starts.map(\.name) == (0..<3).map { "web-\($0)-\(SpecHash.of(web).prefix(8))" })
        #expect(result.changes.map(\.summary) == ["app web: 3 replicas -> node-a, node-b, node-c"])
        #expect(result.changes.first?.kind == .added)
    }

    @Test func anAppInSyncPlansNothing() {
        let web = app("web")
        let result = plan([web], nodes, (0..<3).map { replica(of: web, slot: $0, on: nodes[$0].name) })
        #expect(result.isEmpty)
        #expect(result.actions.isEmpty)
        #expect(result.unchanged == ["web"])
    }

    @Test func scaleUpAddsTheMissingSlot() {
        let web = app("web", replicas: 3)
        let result = plan(
            [web], nodes, [replica(of: web, slot: 0, on: "node-a"), replica(of: web, slot: 1, on: "node-b")])
        #expect(result.starts.map(\.slot) == [2])
        #expect(result.starts.first?.node == "node-c")
        #expect(result.changes.first?.summary == "app web: replicas 2 -> 3 -> node-c")
    }

    @Test func scaleDownStopsTheHighestSlots() {
        let web = app("web", replicas: 1)
        let result = plan([web], nodes, (0..<3).map { replica(of: web, slot: $0, on: nodes[$0].name) })
        #expect(
            result.stops.map(\.containerID).sorted()
                == ["web-1", "web-2"].map { id in
                    (0..<3).map { replica(of: web, slot: $0, on: nodes[$0].name).id }.first { $0.hasPrefix(id) }!
                }.sorted())
        #expect(result.stops.allSatisfy { $0.reason == .scaledDown })
        #expect(result.starts.isEmpty)
    }

    @Test func aHandDeletedReplicaIsRecreated() {
        let web = app("web")
        let result = plan(
            [web], nodes, [replica(of: web, slot: 0, on: "node-a"), replica(of: web, slot: 2, on: "node-c")])
        #expect(result.starts.map(\.slot) == [1])
        #expect(result.starts.first?.node == "node-b")
    }

    @Test func aCrashedReplicaIsRestartedPerPolicy() {
        let always = app("web", replicas: 1, restart: .always)
        let crashed = replica(of: always, slot: 0, on: "node-a", ready: false, status: .exited(code: 1, at: now))
        let result = plan([always], nodes, [crashed])
        #expect(result.stops.map(\.reason) == [.crashed])
        #expect(result.starts.map(\.slot) == [0])

        let never = app("web", replicas: 1, restart: .never)
        let stopped = replica(of: never, slot: 0, on: "node-a", ready: false, status: .exited(code: 1, at: now))
        #expect(plan([never], nodes, [stopped]).actions.isEmpty)

        let onFailure = app("web", replicas: 1, restart: .onFailure)
        let clean = replica(of: onFailure, slot: 0, on: "node-a", ready: false, status: .exited(code: 0, at: now))
        #expect(plan([onFailure], nodes, [clean]).actions.isEmpty)
    }

    @Test func anAppRemovedFromGitIsRemoved() {
        let old = app("old-api", replicas: 2)
        let result = plan(
            [], nodes, [replica(of: old, slot: 0, on: "node-a"), replica(of: old, slot: 1, on: "node-b")])
        #expect(result.stops.count == 2)
        #expect(result.stops.allSatisfy { $0.reason == .removedFromGit })
        #expect(result.changes.map(\.summary) == ["app old-api: 2 containers removed"])
    }

    struct RollingCase: CustomTestStringConvertible, Sendable {
        var name: String
        var maxSurge: Int
        var maxUnavailable: Int
        /// Slots of new-revision replicas, and whether each is ready.
        var new: [(Int, Bool)]
        var expectedStops: Int
        var expectedStartSlots: [Int]
        var testDescription: String { name }
    }

    static let rollingCases: [RollingCase] = [
        RollingCase(
            name: "surge 1: start one new first", maxSurge: 1, maxUnavailable: 0, new: [],
            expectedStops: 0, expectedStartSlots: [0]),
        RollingCase(
            name: "surge 1: new one not ready, wait", maxSurge: 1, maxUnavailable: 0, new: [(0, false)],
            expectedStops: 0, expectedStartSlots: []),
        RollingCase(
            name: "surge 1: new one ready, replace one old and start the next", maxSurge: 1,
            maxUnavailable: 0, new: [(0, true)], expectedStops: 1, expectedStartSlots: [1]),
        RollingCase(
            name: "surge 0, unavailable 1: stop one, start one", maxSurge: 0, maxUnavailable: 1, new: [],
            expectedStops: 1, expectedStartSlots: [0]),
        RollingCase(
            name: "surge 2: start two at once", maxSurge: 2, maxUnavailable: 0, new: [],
            expectedStops: 0, expectedStartSlots: [0, 1]),
        RollingCase(
            name: "surge 1, unavailable 1: stop one and start two", maxSurge: 1, maxUnavailable: 1, new: [],
            expectedStops: 1, expectedStartSlots: [0, 1]),
        RollingCase(
            name: "all new ready: the last old goes", maxSurge: 1, maxUnavailable: 0,
            new: [(0, true), (1, true), (2, true)], expectedStops: 3, expectedStartSlots: []),
    ]

    @Test(arguments: rollingCases)
    func rollingUpdatesRespectSurgeAndUnavailability(_ item: RollingCase) {
        let v1 = app("web", image: "web:1", maxSurge: item.maxSurge, maxUnavailable: item.maxUnavailable)
        let v2 = app("web", image: "web:2", maxSurge: item.maxSurge, maxUnavailable: item.maxUnavailable)
        var containers = (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
        for (slot, ready) in item.new {
            containers.append(replica(of: v2, slot: slot, on: nodes[slot].name, ready: ready, startedAgo: 60))
        }
        let result = plan([v2], nodes, containers)
        #expect(result.stops.count == item.expectedStops, "\(result.actions)")
        #expect(result.stops.allSatisfy { $0.reason == .replaced })
        #expect(result.starts.map(\.slot) == item.expectedStartSlots)
        // Never more than replicas + maxSurge containers once the plan is applied.
        let running = containers.count - result.stops.count + result.starts.count
        #expect(running <= 3 + item.maxSurge)
        #expect(
            result.changes.first?.summary
                == "app web: revision \(SpecHash.of(v1).prefix(8)) -> image web:2 (rolling: 3 replicas, maxSurge "
                + "\(item.maxSurge), maxUnavailable \(item.maxUnavailable))")
    }

    @Test func minReadyTimeHoldsTheNextStep() {
        let v1 = app("web", image: "web:1", minReady: .seconds(30))
        let v2 = app("web", image: "web:2", minReady: .seconds(30))
        let containers =
            (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
            + [replica(of: v2, slot: 0, on: "node-a", readyFor: 10, startedAgo: 20)]
        #expect(plan([v2], nodes, containers).actions.isEmpty)
        let later =
            (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
            + [replica(of: v2, slot: 0, on: "node-a", readyFor: 31, startedAgo: 40)]
        #expect(plan([v2], nodes, later).stops.count == 1)
    }

    @Test func aRolloutPastItsDeadlineRollsBackAndTheFailedRevisionIsNotRetried() {
        let v1 = app("web", image: "web:1")
        let v2 = app("web", image: "web:2")
        let containers =
            (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
            + [replica(of: v2, slot: 0, on: "node-a", ready: false, startedAgo: 301)]
        let result = plan([v2], nodes, containers)
        #expect(result.actions.first == .rollback(app: "web", failedHash: SpecHash.of(v2)))
        #expect(result.stops.map(\.reason) == [.rolledBack])
        #expect(result.starts.isEmpty)
        #expect(result.changes.first?.kind == .rolledBack)

        // Next pass: the failed revision is remembered; with the last good spec known, it is the target.
        let after = (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
        let next = plan([v2], nodes, after, failed: ["web": SpecHash.of(v2)], previous: ["web": v1])
        #expect(next.actions.isEmpty)
        #expect(next.unchanged == ["web"])

        // Without autoRollback the deadline is reported, nothing is stopped.
        let manual = app("web", image: "web:2", autoRollback: false)
        let waiting = plan(
            [manual], nodes,
            (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
                + [replica(of: manual, slot: 0, on: "node-a", ready: false, startedAgo: 301)])
        #expect(waiting.stops.isEmpty)
        #expect(waiting.changes.first?.summary.contains("missed its progress deadline (autoRollback off)") == true)
    }

    @Test func replicasOfALostNodeMoveAfterTheGracePeriod() {
        let web = app("web")
        let containers = (0..<3).map { replica(of: web, slot: $0, on: nodes[$0].name) }
        let briefly = [node("node-a"), node("node-b"), node("node-c", unreachableSince: now.addingTimeInterval(-30))]
        #expect(plan([web], briefly, containers).actions.isEmpty)
        let lost = [node("node-a"), node("node-b"), node("node-c", unreachableSince: now.addingTimeInterval(-120))]
        let result = plan([web], lost, containers)
        #expect(result.stops.isEmpty)  // the lost node cannot be asked to stop anything
        #expect(result.starts.map(\.slot) == [2])
        #expect(result.starts.first.map { $0.node != "node-c" } == true)
    }

    /// The lost node comes back with the replica that was started elsewhere meanwhile: one of the
    /// two copies of the slot is stopped as a duplicate (never both, never none), and the next pass
    /// plans nothing.
    @Test func aLostNodesReturnStopsTheDuplicates() throws {
        let web = app("web")
        let original = (0..<3).map { replica(of: web, slot: $0, on: nodes[$0].name) }
        let lost = [node("node-a"), node("node-b"), node("node-c", unreachableSince: now.addingTimeInterval(-120))]
        let moved = try #require(plan([web], lost, original).starts.first)
        let replacement = replica(of: web, slot: moved.slot, on: moved.node, id: "replacement")
        let back = [node("node-a"), node("node-b"), node("node-c")]
        let containers = original + [replacement]
        let result = plan([web], back, containers)
        #expect(result.starts.isEmpty)
        #expect(result.stops.count == 1, "\(result.stops)")
        let stopped = try #require(result.stops.first)
        #expect(stopped.reason == .duplicate)
        #expect(containers.first { $0.id == stopped.containerID }?.slot == 2)
        let after = containers.filter { $0.id != stopped.containerID }
        #expect(plan([web], back, after).actions.isEmpty)
        #expect(Set(after.map(\.slot)) == [0, 1, 2])
    }

    @Test func aReplicaThatFitsNowhereIsReportedWithTheLargestFreeSpace() {
        let big = app("big-job", replicas: 1, memory: 6 * gi)
        let small = [node("node-a", memory: 4 * gi), node("node-b", memory: 4 * gi)]
        let filler = app("filler", replicas: 1, memory: gi / 2)
        let result = plan([big, filler], small, [replica(of: filler, slot: 0, on: "node-a")])
        #expect(result.starts.isEmpty)
        let change = result.changes.first { $0.app == "big-job" }
        #expect(change?.unplaceable.map(\.reason) == ["needs memory 6Gi, largest free is 4Gi (node-b)"])
        #expect(!result.isEmpty)
    }

    @Test func placementHonoursLabelsAndNodeKinds() {
        let ssd = app("db", replicas: 2, require: ["disk": "ssd"])
        let labelled = [node("node-a", labels: ["disk": "ssd"]), node("node-b", labels: ["disk": "hdd"])]
        let result = plan([ssd], labelled)
        #expect(result.starts.map(\.node) == ["node-a", "node-a"])

        let imageOnly = app("web", replicas: 1)
        let processOnly = plan([imageOnly], [node("local", process: true)])
        #expect(processOnly.starts.isEmpty)
        #expect(
            processOnly.changes.first?.unplaceable.first?.reason
                == "no reachable node can run it (local: a process node runs commands, and this names only an image)")
        // Each node's reason is kept for `reconcile explain`.
        #expect(
            result.starts.first?.placement?.rejected.map(\.description) == ["node-b: lacks label disk=ssd"])
    }

    /// Running DAG tasks take room: replicas go where it is left, and wait when there is none.
    @Test func roomTakenByRunningTasksIsNotGivenToReplicas() {
        var busy = node("node-a", cpu: 2000, memory: 4 * gi)
        busy.tasks = Resources(cpu: CPUQuantity(millicores: 1800), memory: MemoryQuantity(bytes: gi))
        let web = app("web", replicas: 1, cpu: 500, memory: gi)
        let moved = plan([web], [busy, node("node-b", cpu: 2000, memory: 4 * gi)])
        #expect(moved.starts.map(\.node) == ["node-b"])
        let waiting = plan([web], [busy])
        #expect(waiting.starts.isEmpty)
        #expect(waiting.changes.first?.unplaceable.count == 1)
    }

    @Test func binPackingFillsANodeBeforeTheNext() {
        let apps = (0..<4).map { app("small-\($0)", replicas: 1, cpu: 250, memory: gi) }
        let result = plan(apps, [node("node-a", memory: 8 * gi), node("node-b", memory: 8 * gi)])
        #expect(Set(result.starts.map(\.node)).count == 1)
    }

    @Test func spreadingDoesNotOpenMoreNodesThanItNeeds() {
        let apps = (0..<3).map { app("small-\($0)", replicas: 2, cpu: 100, memory: 128 << 20) }
        let four = (0..<4).map { node("node-\($0)") }
        let result = plan(apps, four)
        #expect(Set(result.starts.map(\.node)).count == 2)
        for spec in apps {
            #expect(Set(result.starts.filter { $0.app == spec.name }.map(\.node)).count == 2, "\(spec.name) not spread")
        }
    }

    @Test func mixedSizesAreNeverOvercommitted() {
        let three = [
            node("n1", cpu: 4000, memory: 8 * gi), node("n2", cpu: 4000, memory: 8 * gi),
            node("n3", cpu: 2000, memory: 4 * gi),
        ]
        let apps = [
            app("a", replicas: 4, cpu: 1000, memory: 2 * gi), app("b", replicas: 4, cpu: 500, memory: gi),
            app("c", replicas: 4, cpu: 750, memory: 3 * gi / 2),
        ]
        let result = plan(apps, three)
        var used: [String: (Int64, Int64)] = [:]
        for start in result.starts {
            let current = used[start.node] ?? (0, 0)
            used[start.node] = (current.0 + start.resources.cpu.millicores, current.1 + start.resources.memory.bytes)
        }
        for node in three {
            let use = used[node.name] ?? (0, 0)
            #expect(use.0 <= node.capacity.cpu.millicores && use.1 <= node.capacity.memory.bytes, "\(node.name) \(use)")
        }
        #expect(result.starts.count + result.changes.flatMap(\.unplaceable).count == 12)
    }
}
