import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// Crash-loop backoff: the first restart of a slot is immediate, each later one waits twice as long
/// (10 s, 20 s, 40 s, ... up to 5 min); a replica that ran 10 minutes starts the sequence again.
@Suite struct CrashLoopTests {
    let nodes = [node("node-a"), node("node-b"), node("node-c")]

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var restarts: Int
        var exitedAgo: TimeInterval
        var ranFor: TimeInterval = 5
        var restartsNow: Bool
        var newCount: Int = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "first crash restarts at once", restarts: 0, exitedAgo: 0, restartsNow: true, newCount: 1),
        Case(name: "second crash waits 10s", restarts: 1, exitedAgo: 9, restartsNow: false),
        Case(name: "second crash after 10s", restarts: 1, exitedAgo: 10, restartsNow: true, newCount: 2),
        Case(name: "third crash waits 20s", restarts: 2, exitedAgo: 19, restartsNow: false),
        Case(name: "third crash after 20s", restarts: 2, exitedAgo: 20, restartsNow: true, newCount: 3),
        Case(name: "sixth crash waits 160s", restarts: 5, exitedAgo: 159, restartsNow: false),
        Case(name: "backoff is capped at 5 min", restarts: 12, exitedAgo: 300, restartsNow: true, newCount: 13),
        Case(name: "capped backoff still waits", restarts: 12, exitedAgo: 299, restartsNow: false),
        Case(
            name: "ran 10 minutes: a fresh sequence", restarts: 7, exitedAgo: 0, ranFor: 600, restartsNow: true,
            newCount: 1),
    ]

    @Test(arguments: cases) func backoff(_ item: Case) {
        let web = app("web", replicas: 1)
        var crashed = replica(
            of: web, slot: 0, on: "node-a", ready: false,
            status: .exited(code: 2, at: now.addingTimeInterval(-item.exitedAgo)),
            startedAgo: item.exitedAgo + item.ranFor)
        crashed.restarts = item.restarts
        let result = plan([web], nodes, [crashed])
        if item.restartsNow {
            #expect(result.stops.map(\.reason) == [.crashed])
            #expect(result.starts.map(\.slot) == [0])
            #expect(result.starts.first?.restarts == item.newCount)
        } else {
            #expect(result.actions.isEmpty, "\(result.actions)")
            #expect(result.changes.first?.kind == .waiting)
            #expect(result.changes.first?.summary.contains("replica 0 crash-looping (exit 2") == true)
            let backoff = Timespan(milliseconds: Int64(PlannerOptions().backoff(restarts: item.restarts) * 1000))
            #expect(result.changes.first?.summary.hasSuffix("; backing off \(backoff)") == true)
        }
    }

    /// A slot the kernel killed at its memory limit backs off the same way; the plan says why.
    @Test func anOutOfMemoryCrashSaysSoInThePlan() {
        let web = app("web", replicas: 1)
        var crashed = replica(
            of: web, slot: 0, on: "node-a", ready: false, status: .exited(code: 137, at: now.addingTimeInterval(-1)),
            startedAgo: 6)
        crashed.restarts = 2
        crashed.outOfMemory = true
        let result = plan([web], nodes, [crashed])
        #expect(result.actions.isEmpty, "\(result.actions)")
        #expect(
            result.changes.first?.summary.contains("replica 0 crash-looping (exit 137, out of memory, 2 restarts)")
                == true, "\(result.changes)")
    }

    @Test func backoffDoublesUpToItsCap() {
        let options = PlannerOptions()
        #expect((0...7).map { options.backoff(restarts: $0) } == [0, 10, 20, 40, 80, 160, 300, 300])
    }

    /// A new revision whose replica crashes keeps backing off and is rolled back at its deadline.
    @Test func aCrashLoopingRevisionIsRolledBackAtItsDeadline() {
        let v1 = app("web", image: "web:1")
        let v2 = app("web", image: "web:2")
        var looping = replica(
            of: v2, slot: 0, on: "node-a", ready: false, status: .exited(code: 1, at: now.addingTimeInterval(-5)),
            startedAgo: 301)
        looping.restarts = 4
        let containers = (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) } + [looping]
        let result = plan([v2], nodes, containers)
        #expect(result.actions.first == .rollback(app: "web", failedHash: SpecHash.of(v2)))
        #expect(result.stops.map(\.containerID) == [looping.id])
    }
}

@Suite struct ChangeKindTests {
    let nodes = [node("node-a"), node("node-b"), node("node-c")]

    /// An env change is a new revision like an image change: a rolling update, not a restart.
    @Test func anEnvChangeRollsLikeAnImageChange() {
        var v1 = app("web")
        v1.env = ["MODE": "a"]
        var v2 = v1
        v2.env = ["MODE": "b"]
        #expect(SpecHash.of(v1) != SpecHash.of(v2))
        let containers = (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
        let result = plan([v2], nodes, containers)
        #expect(result.stops.isEmpty)  // maxSurge 1, maxUnavailable 0: start one first
        #expect(result.starts.map(\.slot) == [0])
        #expect(result.changes.first?.kind == .updated)
    }

    /// Changing only the replica count is a scale, never a rollout.
    @Test func replicasAreNotPartOfTheRevision() {
        let three = app("web", replicas: 3)
        let five = app("web", replicas: 5)
        #expect(SpecHash.of(three) == SpecHash.of(five))
    }

    /// A new replica that is running but not healthy is not ready: no old replica is stopped for it.
    @Test func anUnhealthyNewReplicaHoldsTheRollout() {
        let v1 = app("web", image: "web:1")
        let v2 = app("web", image: "web:2")
        let containers =
            (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
            + [replica(of: v2, slot: 0, on: "node-a", ready: false, startedAgo: 30)]
        let result = plan([v2], nodes, containers)
        #expect(result.actions.isEmpty)
        #expect(result.changes.first?.kind == .updated)
    }

    /// Old replicas that are not ready are replaced first: they cost no availability.
    @Test func unreadyOldReplicasAreReplacedFirst() {
        let v1 = app("web", image: "web:1")
        let v2 = app("web", image: "web:2")
        var containers = (0..<3).map { replica(of: v1, slot: $0, on: nodes[$0].name) }
        containers[2].readySince = nil
        let result = plan([v2], nodes, containers)
        #expect(result.stops.map(\.containerID) == [containers[2].id])
    }

    /// A rolling update does not plan stops on a node that does not answer (they would only fail).
    @Test func noStopIsPlannedOnAnUnreachableNode() {
        let v1 = app("web", image: "web:1")
        let v2 = app("web", image: "web:2")
        let down = [node("node-a"), node("node-b"), node("node-c", unreachableSince: now.addingTimeInterval(-10))]
        let containers =
            (0..<3).map { replica(of: v1, slot: $0, on: down[$0].name) }
            + (0..<3).map { replica(of: v2, slot: $0, on: "node-a", id: "new-\($0)") }
        let result = plan([v2], down, containers)
        #expect(!result.stops.isEmpty)
        #expect(result.stops.allSatisfy { $0.node != "node-c" }, "\(result.stops)")
    }
}
