import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// The App conditions (crash loop, degraded, unplaceable), DAG deadlines and long queues, and the
/// deploy notices, from plain facts.
@Suite struct AppAndDAGConditionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let app = AppSpec(name: "web", command: ["serve"], replicas: 3, alerts: ["mail"], alertAfter: .minutes(2))

    func replica(
        _ slot: Int, restarts: Int = 0, exited: Int? = nil, ranFor: TimeInterval = 2, ready: Bool = true
    ) -> ObservedContainer {
        let started = now.addingTimeInterval(-ranFor - 1)
        return ObservedContainer(
            id: "c\(slot)-\(restarts)", node: "a", app: "web", slot: slot, specHash: "h", resources: .defaultRequest,
            status: exited.map { .exited(code: $0, at: started.addingTimeInterval(ranFor)) } ?? .running,
            readySince: ready && exited == nil ? started : nil, startedAt: started, restarts: restarts)
    }

    func facts(_ containers: [ObservedContainer], unplaceable: [Unplaceable] = []) -> AppFacts {
        let plan = Plan(
            actions: [],
            changes: unplaceable.isEmpty
                ? [] : [AppChange(app: "web", kind: .waiting, summary: "app web", unplaceable: unplaceable)],
            unchanged: [])
        let observed = Observed(nodes: [], containers: containers)
        return AppFacts.derive(desired: DesiredState(apps: [app]), observed: observed, plan: plan, now: now)["web"]!
    }

    @Test(
        arguments: [
            // Third crash in a row of slot 1 (two restarts before it): a loop, with its exit code.
            ([(0, 0, nil, 2.0), (1, 2, 1, 2), (2, 0, nil, 2)], 3, 1, 1),
            // Two crashes: not yet.
            ([(0, 0, nil, 2), (1, 1, 1, 2), (2, 0, nil, 2)], nil, nil, nil),
            // It ran 20 minutes before it exited: a new sequence, not a loop.
            ([(0, 0, nil, 2), (1, 5, 137, 1200), (2, 0, nil, 2)], nil, nil, nil),
            // Restarted a third time and running for 2 s: still in the loop, its exit not seen now.
            ([(0, 0, nil, 2), (1, 3, nil, 2), (2, 0, nil, 2)], 3, nil, 1),
            // Restarted and running for 20 minutes: out of the loop.
            ([(0, 0, nil, 2), (1, 3, nil, 1200), (2, 0, nil, 2)], nil, nil, nil),
        ] as [([(Int, Int, Int?, Double)], Int?, Int?, Int?)])
    func crashLoopsAreCrashesInARowOfASlot(
        replicas: [(Int, Int, Int?, Double)], crashes: Int?, exitCode: Int?, slot: Int?
    ) {
        let fact = facts(replicas.map { replica($0.0, restarts: $0.1, exited: $0.2, ranFor: $0.3) })
        #expect(fact.crashLoop?.restarts == crashes)
        #expect(fact.crashLoop?.exitCode == exitCode)
        #expect(fact.crashLoop?.slot == slot)
    }

    @Test func crashLoopConditionQuotesTheExitCodeAndTheLastOutput() {
        var fact = facts([replica(0), replica(1, restarts: 4, exited: 2), replica(2)])
        fact.crashLoop?.lastOutput = ["starting", "fatal: config missing"]
        let conditions = Dictionary(
            uniqueKeysWithValues: Conditions.from(
                state: DesiredState(apps: [app]), facts: ConditionFacts(apps: ["web": fact])
            ).map { ($0.key, $0) })
        let crash = conditions["crashloop/web"]!
        #expect(crash.failing && crash.notifiers == ["mail"] && crash.severity == .critical)
        #expect(
            crash.summary
                == "app web is crash-looping: replica 1 crashed 5 times in a row, last exit code 2; its last output:\n  starting\n  fatal: config missing"
        )
        #expect(conditions["degraded/web"]?.failing == true, "two of three ready")
    }

    /// The kernel's kill at the memory limit is named, with the limit, in the crash-loop notice; an
    /// exit after a replica that was killed so (another slot, or an earlier one) is not.
    @Test func aCrashLoopOutOfMemoryNamesTheLimit() throws {
        var limited = app
        limited.resources = Resources(cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 64 << 20))
        var killed = replica(1, restarts: 3, exited: 137)
        killed.outOfMemory = true
        var otherSlot = replica(2, restarts: 0, exited: 1)
        otherSlot.outOfMemory = false
        let observed = Observed(nodes: [], containers: [replica(0), killed, otherSlot])
        let plan = Plan(actions: [], changes: [], unchanged: [])
        let fact = try #require(
            AppFacts.derive(desired: DesiredState(apps: [limited]), observed: observed, plan: plan, now: now)["web"])
        #expect(fact.crashLoop?.outOfMemory == true)
        let crash = try #require(
            Conditions.from(state: DesiredState(apps: [limited]), facts: ConditionFacts(apps: ["web": fact]))
                .first { $0.key == "crashloop/web" })
        #expect(
            crash.summary
                == "app web is crash-looping: replica 1 crashed 4 times in a row, last exit code 137 (out of memory: killed for going over its memory limit of 64Mi)"
        )
        // The same loop with a plain exit 137 (a SIGKILL from elsewhere) says nothing of memory.
        killed.outOfMemory = false
        let plain = AppFacts.derive(
            desired: DesiredState(apps: [limited]),
            observed: Observed(nodes: [], containers: [replica(0), killed, otherSlot]), plan: plan, now: now)["web"]
        #expect(plain?.crashLoop?.outOfMemory == false)
        #expect(plain?.crashLoop?.exitCode == 137)
    }

    @Test(arguments: [
        (3, false, Severity.warning), (2, true, .warning), (0, true, .critical),
    ])
    func degradedIsAWarningUntilNoReplicaIsReady(ready: Int, failing: Bool, severity: Severity) {
        let containers = (0..<3).map { replica($0, ready: $0 < ready) }
        let conditions = Conditions.from(
            state: DesiredState(apps: [app]), facts: ConditionFacts(apps: ["web": facts(containers)]))
        let degraded = conditions.first { $0.key == "degraded/web" }!
        #expect(degraded.failing == failing)
        #expect(degraded.severity == severity)
        #expect(degraded.fireAfter == .minutes(2), "it waits for the App's alertAfter")
        if failing { #expect(degraded.summary == "app web is degraded: \(ready) of 3 replicas ready") }
    }

    @Test func unplaceableCarriesTheLedgersReason() {
        let reason = "no node has 4 cpu free (a: 1.5 cpu free)"
        let fact = facts(
            [replica(0)],
            unplaceable: [Unplaceable(app: "web", reason: reason), Unplaceable(app: "web", reason: reason)])
        #expect(fact.unplaceable == "2 replicas: \(reason)")
        let conditions = Conditions.from(state: DesiredState(apps: [app]), facts: ConditionFacts(apps: ["web": fact]))
        let unplaceable = conditions.first { $0.key == "unplaceable/web" }!
        #expect(unplaceable.failing && unplaceable.fireAfter == .minutes(2))
        #expect(unplaceable.summary == "app web cannot place 2 replicas: \(reason)")
    }

    @Test func withoutFactsAppConditionsPass() {
        let conditions = Conditions.from(state: DesiredState(apps: [app]), facts: ConditionFacts())
        for key in ["crashloop/web", "degraded/web", "unplaceable/web"] {
            #expect(conditions.first { $0.key == key }?.failing == false, "\(key)")
        }
    }

    // MARK: DAG deadlines and queues

    func daily(deadline: Timespan?, start: Date? = nil) -> DAGSpec {
        DAGSpec(
            name: "nightly", schedule: try! CronSchedule(parsing: "0 2 * * *"), timezone: "UTC",
            start: start?.timeIntervalSince1970, tasks: [TaskSpec(name: "load", command: ["load"])], alerts: ["mail"],
            deadline: deadline)
    }

    /// 2026-03-10 02:00 UTC and friends.
    func utc(_ day: Int, _ hour: Int, _ minute: Int = 0) -> Date {
        var components = DateComponents(year: 2026, month: 3, day: day, hour: hour, minute: minute)
        components.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: components)!
    }

    @Test(arguments: [
        // 07:59 on the 10th, deadline 6h: the 10th's 02:00 run is not due yet, the 9th's is.
        (10, 7, 59, 9),
        // 08:00: the 10th's run is due.
        (10, 8, 0, 10),
        // 01:00 on the 11th: still the 10th's.
        (11, 1, 0, 10),
    ])
    func theLatestTickWhoseDeadlinePassed(day: Int, hour: Int, minute: Int, tickDay: Int) {
        let dag = daily(deadline: .hours(6))
        #expect(
            DeadlineWatch.latestDueTick(dag, earliest: utc(1, 0), now: utc(day, hour, minute)) == utc(tickDay, 2))
    }

    @Test func ticksBeforeTheDAGWasSeenHaveNoDeadline() {
        let dag = daily(deadline: .hours(6))
        // First seen at 05:00 on the 10th: the 10th's 02:00 tick came before it.
        #expect(DeadlineWatch.latestDueTick(dag, earliest: utc(10, 5), now: utc(10, 9)) == nil)
        #expect(DeadlineWatch.latestDueTick(dag, earliest: utc(10, 5), now: utc(11, 8)) == utc(11, 2))
        // A paused DAG or one without a deadline is never late.
        var paused = dag
        paused.paused = true
        #expect(DeadlineWatch.latestDueTick(paused, earliest: utc(1, 0), now: utc(11, 8)) == nil)
        #expect(DeadlineWatch.latestDueTick(daily(deadline: nil), earliest: utc(1, 0), now: utc(11, 8)) == nil)
    }

    @Test(
        arguments: [
            ("running", true), ("failed", true), ("succeeded", false), (nil, true),
        ] as [(String?, Bool)])
    func aRunNotSucceededByItsDeadlineFails(state: String?, failing: Bool) {
        let dag = daily(deadline: .hours(6))
        let run = state.map { DeadlineWatch.TickRun(runID: "scheduled__2026-03-10T02:00:00Z", state: $0) }
        let missed = DeadlineWatch.missed(dag, tick: utc(10, 2), run: run)
        #expect((missed != nil) == failing)
        var facts = ConditionFacts()
        facts.missedDeadlines = missed.map { ["nightly": $0] } ?? [:]
        let condition = Conditions.from(state: DesiredState(dags: [dag]), facts: facts).first {
            $0.key == "deadline/nightly"
        }!
        #expect(condition.failing == failing)
        if state == nil {
            #expect(
                condition.summary
                    == "dag nightly: the run for 2026-03-10T02:00:00Z was never started past its deadline 2026-03-10T08:00:00Z (6h after its logical date)"
            )
        }
        if state == "running" { #expect(condition.summary.contains("is running past its deadline")) }
    }

    @Test func aTaskQueuedForRoomLongerThanTheThresholdIsAWarning() {
        var dag = daily(deadline: nil)
        dag.queuedAlertAfter = .minutes(30)
        var facts = ConditionFacts()
        facts.queued = [
            "nightly": .init(
                runID: "r1", task: "load", since: now.addingTimeInterval(-29 * 60), reason: "no node has room")
        ]
        facts.now = now
        let early = Conditions.from(state: DesiredState(dags: [dag]), facts: facts).first {
            $0.key == "queued/nightly"
        }!
        #expect(!early.failing)
        facts.now = now.addingTimeInterval(60)
        let late = Conditions.from(state: DesiredState(dags: [dag]), facts: facts).first { $0.key == "queued/nightly" }!
        #expect(late.failing && late.severity == .warning)
        #expect(late.summary.contains("task load of run r1 has waited for room since"))
        #expect(
            !Conditions.from(state: DesiredState(dags: [dag]), facts: ConditionFacts()).contains {
                $0.key.hasPrefix("deadline/")
            }, "no deadline: no deadline condition")
    }

    // MARK: Deploy notices

    @Test func notifyOnSendsOneNoticePerNotifierWithCommitImageAndDuration() {
        var web = AppSpec(name: "web", image: "web:2", alerts: ["mail", "chat"], notifyOn: [.deployed])
        let started = RolloutEvent(
            app: "web", at: now, kind: .started, fromHash: "aaaa", toHash: "bbbbbbbbcc", commitID: "c0ffee1234567890",
            detail: "")
        var completed = started
        completed.kind = .completed
        completed.at = now.addingTimeInterval(95)
        let notices = DeployNotices.notices(
            for: [completed], desired: DesiredState(apps: [web]), latest: ["web": started])
        #expect(notices.map(\.notifier) == ["mail", "chat"])
        #expect(notices.allSatisfy { $0.kind == .info && $0.key == "rollout/web" })
        #expect(notices[0].summary == "app web deployed revision bbbbbbbb (web:2) from commit c0ffee123456 in 1m35s")
        #expect(Set(notices.map(\.idempotencyKey)).count == 2)
        // A rollback is not asked for; nor is anything for an App without notifyOn.
        var rolledBack = completed
        rolledBack.kind = .rolledBack
        #expect(DeployNotices.notices(for: [rolledBack], desired: DesiredState(apps: [web]), latest: [:]).isEmpty)
        web.notifyOn = []
        #expect(DeployNotices.notices(for: [completed], desired: DesiredState(apps: [web]), latest: [:]).isEmpty)
    }
}
