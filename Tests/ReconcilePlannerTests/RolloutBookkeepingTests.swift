import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// What a plan means for the rollout records (pure): started, completed, rolled back, last good.
@Suite struct RolloutBookkeepingTests {
    func records(
        _ apps: [AppSpec], _ containers: [ObservedContainer], failed: [String: String] = [:],
        good: [String: AppSpec] = [:], latest: [String: RolloutEvent] = [:]
    ) -> (Plan, RolloutRecords) {
        let nodes = [node("node-a"), node("node-b")]
        let observed = Observed(nodes: nodes, containers: containers)
        let plan = Planner.plan(
            desired: DesiredState(apps: apps), observed: observed, failedRollouts: failed, previous: good, now: now)
        return (
            plan,
            RolloutBookkeeping.records(
                plan: plan, desired: DesiredState(apps: apps), observed: observed, failed: failed, good: good,
                latest: latest, revision: "c2", now: now)
        )
    }

    @Test func aNewRevisionStartsARolloutThenCompletesAndBecomesGood() {
        let v1 = app("web", replicas: 2, image: "web:1")
        let v2 = app("web", replicas: 2, image: "web:2")
        let running = [replica(of: v1, slot: 0, on: "node-a"), replica(of: v1, slot: 1, on: "node-b")]
        let (_, started) = records([v2], running, good: ["web": v1])
        #expect(started.events.map(\.kind) == [.started])
        #expect(started.events.first?.fromHash == SpecHash.of(v1))
        #expect(started.events.first?.toHash == SpecHash.of(v2))
        #expect(started.good.isEmpty)
        // Once every replica runs v2: completed, and v2 is the next rollback target.
        let done = [replica(of: v2, slot: 0, on: "node-a"), replica(of: v2, slot: 1, on: "node-b")]
        let (_, completed) = records([v2], done, good: ["web": v1], latest: ["web": started.events[0]])
        #expect(completed.events.map(\.kind) == [.completed])
        #expect(completed.good == [v2])
        // Nothing more to record on the next pass.
        let (_, quiet) = records([v2], done, good: ["web": v2], latest: ["web": completed.events[0]])
        #expect(quiet.isEmpty)
    }

    @Test func aRolloutPastItsDeadlineIsRecordedFailedAndRolledBack() {
        let v1 = app("web", replicas: 1, image: "web:1")
        let v2 = app("web", replicas: 1, image: "web:2")
        let stuck = [
            replica(of: v1, slot: 0, on: "node-a"),
            replica(of: v2, slot: 0, on: "node-b", ready: false, startedAgo: 3600),
        ]
        let started = RolloutEvent(
            app: "web", at: now, kind: .started, fromHash: SpecHash.of(v1), toHash: SpecHash.of(v2), commitID: "c2",
            detail: "")
        let (plan, rolled) = records([v2], stuck, good: ["web": v1], latest: ["web": started])
        #expect(plan.actions.contains(.rollback(app: "web", failedHash: SpecHash.of(v2))))
        #expect(rolled.failed == ["web": SpecHash.of(v2)])
        #expect(rolled.events.map(\.kind) == [.rolledBack])
        #expect(rolled.events.first?.toHash == SpecHash.of(v1))
        #expect(rolled.good.isEmpty)
    }
}
