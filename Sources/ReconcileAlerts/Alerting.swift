import AsyncHTTPClient
import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileStore
import Synchronization

/// Checks, incidents and notifications, on a loop of their own (a slow check or a receiver that is
/// down never delays reconciling): every second it runs the checks that are due, turns every
/// monitored thing into a condition, steps the incident machine, saves the step with its notices
/// into the outbox (one transaction), and delivers what the outbox holds, with backoff.
public final class Alerting: Sendable {
    /// What the reconcile loop last saw, for the conditions.
    public struct Inputs: Sendable {
        public var state: DesiredState
        public var nodes: [NodeSpec]
        public var checkRunner: CheckRunner?
        /// Nodes that do not answer, and since when.
        public var unreachable: [String: Date]
        /// The newest commit when it is invalid: its id and first errors.
        public var invalidCommit: (commit: String, errors: [String])?
        /// Apps whose image pulls keep failing, with the last failure.
        public var pullFailures: [String: String] = [:]
        /// What the last pass saw of each App (ready replicas, crash loops, unplaceable replicas).
        public var apps: [String: AppFacts] = [:]

        public init(state: DesiredState) {
            self.state = state
            nodes = state.nodes
            unreachable = [:]
        }
    }

    let store: Store
    let sender: NoticeSender
    let log: @Sendable (String) -> Void
    let metrics: (any AlertMetrics)?
    private let inputs = Mutex<Inputs?>(nil)
    private let lastEvaluation = Mutex(Date.distantPast)
    /// The clock, and the jitter of delivery retries (a factor in 0.8...1.2): injected, so tests can
    /// fix them.
    let clock: @Sendable () -> Date
    let jitter: @Sendable () -> Double

    public init(
        store: Store, sender: NoticeSender = NoticeSender(), metrics: (any AlertMetrics)? = nil,
        clock: @escaping @Sendable () -> Date = { Date() },
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0.8...1.2) },
        log: @escaping @Sendable (String) -> Void
    ) {
        self.clock = clock
        self.jitter = jitter
        self.metrics = metrics
        self.store = store
        self.sender = sender
        self.log = log
    }

    public func update(_ change: @Sendable (inout Inputs?) -> Void) { inputs.withLock { change(&$0) } }

    /// Until cancelled or shut down: one round a second.
    public func run(stopping: @Sendable () -> Bool) async {
        while !stopping() {
            await round(now: clock())
            // One wake-up a second (a shutdown is noticed within it): an idle controller's cost is
            // mostly its wake-ups.
            if !stopping() { try? await Task.sleep(for: .seconds(1)) }
        }
    }

    /// One round: due checks, the incident step, deliveries.
    public func round(now: Date) async {
        guard let current = inputs.withLock({ $0 }) else { return }
        do {
            let ran = try await runChecks(current, now: now)
            // Conditions change with a check's result or a reconcile pass (every couple of seconds):
            // evaluated when a check ran, else every 2 s (this loop wakes every second).
            let evaluate = lastEvaluation.withLock { last in
                guard ran > 0 || now.timeIntervalSince(last) >= 2 else { return false }
                last = now
                return true
            }
            guard evaluate else {
                try await deliver(current.state, now: now)
                return
            }
            let conditions = try conditions(current, now: now)
            var policies: [String: NotifierPolicy] = [:]
            for notifier in current.state.notifiers {
                policies[notifier.name] = NotifierPolicy(
                    repeatInterval: notifier.repeatInterval, sendResolved: notifier.sendResolved,
                    minSeverity: notifier.minSeverity)
            }
            let incidents = try store.incidents()
            // Silences from the CLI and from git, the one ending last winning.
            var mutes = try store.silences().filter { $0.value > now }.mapValues {
                SilenceRules.Mute(until: $0, by: "cli")
            }
            for (key, mute) in SilenceRules.mutes(current.state.silences, conditions: conditions, now: now)
            where mutes[key].map({ $0.until < mute.until }) ?? true {
                mutes[key] = mute
            }
            var step = IncidentMachine.step(
                incidents: incidents, conditions: conditions, silences: mutes.mapValues(\.until), notifiers: policies,
                now: now)
            for index in step.open.indices {
                let mute = mutes[step.open[index].key]
                step.open[index].silencedBy = mute?.by
                step.open[index].silencedUntil = mute?.until
            }
            // Written only when something changed (this runs every second).
            if !step.notices.isEmpty || !step.resolved.isEmpty || step.open != incidents {
                try store.apply(open: step.open, resolved: step.resolved, notices: step.notices, now: now)
            }
            try await deliver(current.state, now: now)
        } catch {
            log("alerts: \(error)")
        }
    }

    /// Runs the checks that are due; returns how many ran.
    private func runChecks(_ inputs: Inputs, now: Date) async throws -> Int {
        guard let runner = inputs.checkRunner else { return 0 }
        let states = try store.checkStates()
        let due = inputs.state.checks.filter {
            (states[$0.name] ?? CheckState()).isDue(interval: $0.interval, now: now)
        }
        let results = await withTaskGroup(of: (CheckSpec, CheckRunner.Result).self) { group in
            for check in due {
                let previous = states[check.name]?.lastMatch
                group.addTask { (check, await runner.run(check, previousMatch: previous, now: now)) }
            }
            var results: [(CheckSpec, CheckRunner.Result)] = []
            for await result in group { results.append(result) }
            return results
        }
        for (check, result) in results {
            var state = states[check.name] ?? CheckState()
            let wasFailing = state.failing
            state.record(
                passed: result.passed, message: result.message, at: now, failAfter: check.failAfter,
                passAfter: check.passAfter)
            state.lastMatch = result.lastMatch
            if !result.passed { state.severity = result.severity }
            metrics?.checkResult(check.name, passed: result.passed)
            try store.saveCheckState(state, name: check.name)
            if state.failing != wasFailing {
                log(
                    "\(state.failing ? "!" : "=") check \(check.name): \(state.failing ? "failing" : "passing"): \(result.message)"
                )
            }
        }
        return results.count
    }

    /// Every monitored thing, failing or not (a thing missing here is gone from git): the facts read
    /// from the store, turned into conditions by the pure `Conditions.from`.
    public func conditions(_ inputs: Inputs, now: Date = Date()) throws -> [Condition] {
        var lastFinished: [String: ConditionFacts.FinishedRun] = [:]
        var missed: [String: ConditionFacts.MissedDeadline] = [:]
        // One indexed row per DAG, all in one read: this runs every second.
        let finished = try store.lastFinishedRuns(dags: inputs.state.dags.map(\.name))
        for dag in inputs.state.dags {
            if let last = finished[dag.name] {
                lastFinished[dag.name] = ConditionFacts.FinishedRun(
                    runID: last.runID, failed: last.state == .failed, failure: last.failure)
            }
            if dag.deadline != nil, dag.schedule != nil {
                let runs = try store.runs(dag: dag.name, limit: 20)
                // Ticks before the DAG (with its deadline) was first seen have no deadline to miss.
                // A tick the scheduler made a run for is watched even when this round first saw the
                // DAG after it: a controller started a moment before a tick creates its run before
                // its first alerting round.
                let key = "alerts.deadlineSince.\(dag.name)"
                let since = try store.setting(key).flatMap(Double.init).map { Date(timeIntervalSince1970: $0) }
                if since == nil { try store.setSetting(key, String(now.timeIntervalSince1970)) }
                let firstRun = runs.map(\.logicalDate).min() ?? .distantFuture
                let tick = DeadlineWatch.latestDueTick(dag, earliest: min(since ?? now, firstRun), now: now)
                var run: DeadlineWatch.TickRun?
                if let tick {
                    let forTick =
                        try runs.filter { $0.logicalDate == tick }.nilIfEmpty
                        ?? store.runs(dag: dag.name, limit: 500).filter { $0.logicalDate == tick }
                    let best = forTick.first { $0.state == .succeeded } ?? forTick.first
                    run = best.map { DeadlineWatch.TickRun(runID: $0.runID, state: $0.state.rawValue) }
                }
                missed[dag.name] = DeadlineWatch.missed(dag, tick: tick, run: run)
            }
        }
        var facts = ConditionFacts(
            checks: try store.checkStates(), lastFinishedRuns: lastFinished, failedRollouts: try store.failedRollouts(),
            nodes: inputs.nodes.map(\.name), unreachable: inputs.unreachable,
            invalidCommit: inputs.invalidCommit.map {
                ConditionFacts.InvalidCommit(commit: $0.commit, errors: $0.errors)
            })
        facts.pullFailures = inputs.pullFailures
        facts.apps = inputs.apps
        facts.missedDeadlines = missed
        facts.queued = try store.roomWaits().mapValues {
            ConditionFacts.QueuedTask(runID: $0.runID, task: $0.task, since: $0.since, reason: $0.reason)
        }
        facts.now = now
        return Conditions.from(state: inputs.state, facts: facts)
    }

    /// Sends what is due in the outbox, per notifier as one message (a digest when several are
    /// due); each notice is marked sent once the receiver took it. A notifier's first notices wait
    /// `groupWait` from the oldest of them, so those that come due meanwhile go out together.
    func deliver(_ state: DesiredState, now: Date) async throws {
        let notifiers = Dictionary(state.notifiers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let due = try store.dueNotices(now: now)
        let gone = due.filter { notifiers[$0.notice.notifier] == nil }
        for entry in gone {
            try store.markFailed(
                entry.notice.idempotencyKey, error: "notifier \(entry.notice.notifier) is no longer in git",
                retryAt: nil,
                now: now)
        }
        let groups = NoticeGroups.ready(
            due.filter { notifiers[$0.notice.notifier] != nil }.map {
                NoticeGroups.Pending(notice: $0.notice, attempts: $0.attempts)
            }, groupWait: notifiers.mapValues(\.groupWait), now: now)
        for entries in groups {
            guard let notifier = notifiers[entries[0].notice.notifier] else { continue }
            let notices = entries.map(\.notice)
            let attempts = entries.map(\.attempts).max() ?? 0
            let what = notices.count == 1 ? "\(notices[0].kind.rawValue) \(notices[0].key)" : "\(notices.count) notices"
            switch await sender.send(notices, via: notifier) {
            case .sent:
                metrics?.notification(notifier.name, result: "sent")
                for notice in notices { try store.markSent(notice.idempotencyKey, at: clock()) }
                log("notified \(notifier.name): \(what)")
            case .retry(let after, let problem):
                metrics?.notification(notifier.name, result: "retry")
                let retryAt = clock().addingTimeInterval(after ?? Self.backoff(attempt: attempts, jitter: jitter()))
                for notice in notices {
                    try store.markFailed(notice.idempotencyKey, error: problem, retryAt: retryAt, now: now)
                }
                if attempts == 0 { log("notify \(notifier.name): \(problem); retrying") }
            case .permanent(let problem):
                metrics?.notification(notifier.name, result: "failed")
                for notice in notices {
                    try store.markFailed(notice.idempotencyKey, error: problem, retryAt: nil, now: now)
                }
                log("notify \(notifier.name): \(problem); given up")
            }
        }
    }

    /// 2 s, 4 s, 8 s, ... up to 5 minutes, each ±20% so many notices do not retry in step.
    public static func backoff(attempt: Int, jitter: Double = Double.random(in: 0.8...1.2)) -> TimeInterval {
        min(300, 2 * pow(2, Double(min(attempt, 10)))) * min(1.2, max(0.8, jitter))
    }
}

extension Array {
    fileprivate var nilIfEmpty: Self? { isEmpty ? nil : self }
}
