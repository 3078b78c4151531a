import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets
import ReconcileStore

/// Runs DAGs, one pass at a time: creates due runs (RunScheduler), reads what each attempt's
/// container did, decides (TaskPlanner), and starts, kills and records attempts. Each attempt is
/// recorded before its container starts, under a deterministic name, so a pass interrupted at any
/// line is finished by the next one: a recorded attempt without a container is started, a container
/// that exists is adopted, never started twice. A finished attempt's output is saved under
/// `<state>/logs/dags` before its container is removed.
public struct DAGRunner: Sendable {
    public static let dagLabel = OwnershipLabels.dag
    public static let runLabel = OwnershipLabels.run
    public static let taskLabel = OwnershipLabels.task
    public static let tryLabel = OwnershipLabels.tryNumber
    /// A container created but not started for this long was left by an interrupted start: it is
    /// replaced (its command never ran).
    static let abandonedAfter: TimeInterval = 5
    /// Task containers started at once when many tasks become ready together (a fan-out).
    static let parallelStarts = 16

    let nodes: [NodeSpec]
    let drivers: [String: any ContainerDriver]
    let store: Store
    let logs: LogStore
    let memory = RunnerMemory()
    let metrics: ControllerMetrics?

    public init(
        nodes: [NodeSpec], drivers: [String: any ContainerDriver], store: Store, stateDirectory: String,
        metrics: ControllerMetrics? = nil
    ) {
        self.metrics = metrics
        self.nodes = nodes
        self.drivers = drivers
        self.store = store
        logs = LogStore(stateDirectory: stateDirectory)
    }

    /// What one pass did.
    public struct Outcome: Sendable {
        /// One line per event.
        public var events: [String]
        /// Some run of a DAG in git is still running (the controller then looks again soon).
        public var active: Bool
        /// When the next pass is due although no task exits (a retry, a timeout, a cron tick, a
        /// container left created): the runner sleeps until then or until an exit notice arrives.
        public var requeueAt: Date?
    }

    /// What a pass sees of one node's task containers.
    typealias Listed = (node: String, info: ContainerInfo)

    /// One pass over every DAG: observe the nodes, bring each running run's attempts up to date with
    /// their containers, ask the pure DAG step what to do (DAGPlanner.step), and do it.
    /// - Parameters:
    ///   - appPlan: the last app plan: nodes its ledger holds for App replicas waiting for room take no
    ///     task (Apps are placed first).
    ///   - snapshot: the tick's observation, taken before `appPlan` was applied (its starts are booked
    ///     on top of it); without one (a wake between ticks), the nodes are listed.
    public func run(
        desired: DesiredState, revision: String, now: Date, appPlan: Plan? = nil, snapshot: ClusterSnapshot? = nil
    ) async throws -> Outcome {
        var pass = PassState()
        // A DAG paused by hand (`reconcile dags pause`) is paused as if git said so.
        var desired = desired
        let pausedByHand = try store.pausedDAGs()
        for index in desired.dags.indices where pausedByHand[desired.dags[index].name] != nil {
            desired.dags[index].paused = true
        }
        // Every node that answers, with what occupies it: one ledger with the app planner's rules.
        var ledgerNodes: [NodeLedger.Node] = []
        var occupants: [(node: String, resources: Resources)] = []
        let occupancy = Occupancy(desired)
        let listings: [String: [ContainerInfo]]
        if let snapshot { listings = snapshot.listings } else { listings = await Self.list(nodes, drivers: drivers) }
        // A task that names a Docker network is placed only where it exists: read with the tick's
        // snapshot, or here on a wake between ticks.
        var networks: [String: Set<String>] = snapshot?.nodes.compactMapValues(\.networks) ?? [:]
        if snapshot == nil, ClusterSnapshot.needsNetworks(desired) {
            networks = await ClusterSnapshot.perNode(nodes, drivers: drivers) { driver in
                (try? await driver.networks()) ?? nil
            }
        }
        for node in nodes {
            if let info = snapshot?.nodes[node.name]?.info, node.capacity == nil {
                memory.setCapacity(info.capacity, of: node.name)
            }
            guard let driver = drivers[node.name], let containers = listings[node.name] else {
                if let capacity = node.capacity ?? memory.capacity(of: node.name) {
                    ledgerNodes.append(
                        NodeLedger.Node(
                            name: node.name, capacity: capacity, labels: node.labels,
                            isProcessNode: node.isProcessNode, reachable: false, schedulable: node.acceptsWork))
                }
                continue
            }
            guard let capacity = try await capacity(of: node, driver: driver) else { continue }
            pass.reachable.insert(node.name)
            ledgerNodes.append(
                NodeLedger.Node(
                    name: node.name, capacity: capacity, labels: node.labels, isProcessNode: node.isProcessNode,
                    schedulable: node.acceptsWork, networks: networks[node.name]))
            for info in containers {
                if let used = occupancy.of(info) { occupants.append((node.name, used)) }
                if info.labels[Self.dagLabel] != nil { pass.containers[info.name] = (node.name, info) }
            }
        }
        var ledger = NodeLedger(nodes: ledgerNodes)
        for (node, resources) in occupants { ledger.book(resources, on: node) }
        if let appPlan {
            ledger.takeHolds(from: appPlan.ledger)
            if snapshot != nil { for start in appPlan.starts { ledger.book(start.resources, on: start.node) } }
        }
        // Each running run's attempts, brought up to date with their containers.
        var inputs: [DAGStepInput] = []
        var runs: [String: RunContext] = [:]
        // Every DAG's running runs and cursor in two reads, not two per DAG.
        let runningByDAG = try store.runsByDAG(state: .running)
        var followed: [String: [DAGRun]] = [:]
        for dag in desired.dags {
            for run in runningByDAG[dag.name] ?? [] {
                let context = try await follow(run, dag: dag, now: now, pass: &pass)
                runs[Self.key(dag.name, run.runID)] = context
                followed[dag.name, default: []].append(context.planned)
            }
        }
        let cursors = try store.dagCursors()
        for dag in desired.dags {
            let running = followed[dag.name] ?? []
            let cursor = cursors[dag.name]
            inputs.append(
                DAGStepInput(
                    dag: dag, cursor: cursor, running: running,
                    upstream: dag.after.isEmpty ? nil : try upstreamRuns(of: dag, cursor: cursor)))
        }
        // Attempts that following started (recorded before a crash, never started) hold their room
        // now although the listing did not show them.
        for context in runs.values {
            for record in context.records
            where record.state == .running && !record.node.isEmpty && pass.containers[record.containerName] == nil {
                let task = desired.dags.first { $0.name == record.dag }?.tasks.first { $0.name == record.task }
                ledger.book(task?.resources ?? .defaultRequest, on: record.node)
            }
        }
        let actions = DAGPlanner.step(inputs, ledger: ledger, now: now, pools: desired.pools)
        try await carryOut(actions, desired: desired, revision: revision, now: now, runs: &runs, pass: &pass)
        try await sweep(&pass)
        await removePendingVolumes(pass: &pass)
        pass.events += memory.newNotes(pass.notes).sorted()
        var requeueAt = actions.requeueAt
        if let created = pass.abandonedAt { requeueAt = min(requeueAt ?? created, created) }
        if let poll = pass.nextSensorPoll { requeueAt = min(requeueAt ?? poll, poll) }
        return Outcome(events: pass.events, active: actions.active, requeueAt: requeueAt)
    }

    static func key(_ dag: String, _ runID: String) -> String { dag + "\u{0}" + runID }

    /// For an `after:` DAG: upstream runs that succeeded since its cursor, with every other succeeded
    /// upstream run of those same intervals, and which of its own runs for them exist.
    func upstreamRuns(of dag: DAGSpec, cursor: Date?) throws -> UpstreamRuns? {
        guard let cursor else { return nil }
        let recent = try store.succeededRuns(of: dag.after, finishedSince: cursor)
        let ends = Set(recent.map(\.dataIntervalEnd))
        let all = recent.isEmpty ? [] : try store.succeededRuns(of: dag.after, intervalEnds: ends)
        let runs = (recent + all).compactMap { run -> UpstreamRuns.Run? in
            guard let finished = run.finishedAt else { return nil }
            return UpstreamRuns.Run(
                dag: run.dag, runID: run.runID, dataIntervalStart: run.dataIntervalStart,
                dataIntervalEnd: run.dataIntervalEnd, finishedAt: finished)
        }
        let ids = ends.map { RunScheduler.afterRunID(intervalEnd: $0) }
        return UpstreamRuns(succeeded: runs, existing: try store.existingRunIDs(dag: dag.name, among: ids))
    }

    /// Every answering node's containers, listed side by side.
    static func list(_ nodes: [NodeSpec], drivers: [String: any ContainerDriver]) async -> [String: [ContainerInfo]] {
        await ClusterSnapshot.perNode(nodes, drivers: drivers) { driver in try? await driver.list() }
    }

    /// Removes the containers of finished attempts a pass did not get to remove (the controller
    /// stopped in between), saving their output first when that was not done.
    private func sweep(_ pass: inout PassState) async throws {
        for (name, (node, info)) in pass.containers where info.status == .exited && !pass.handled.contains(name) {
            guard let dag = info.labels[Self.dagLabel], let runID = info.labels[Self.runLabel],
                let task = info.labels[Self.taskLabel], let tryNumber = info.labels[Self.tryLabel].flatMap(Int.init),
                var record = try store.attempt(dag: dag, runID: runID, task: task, tryNumber: tryNumber),
                record.state != .recorded, record.state != .running, let driver = drivers[node]
            else { continue }
            if record.logPath == nil {
                await saveLogs(&record, driver: driver, id: info.id)
                try store.saveAttempt(record)
            }
            try? await driver.remove(info.id)
        }
    }

    /// The node's capacity: from its manifest, else as its engine reports it (read once).
    private func capacity(of node: NodeSpec, driver: any ContainerDriver) async throws -> Resources? {
        if let capacity = node.capacity { return capacity }
        if let known = memory.capacity(of: node.name) { return known }
        guard let info = try? await driver.info() else { return nil }
        memory.setCapacity(info.capacity, of: node.name)
        return info.capacity
    }
}

/// What one runner pass has seen and done so far.
struct PassState {
    var events: [String] = []
    /// Task containers by name, from every node that answered.
    var containers: [String: DAGRunner.Listed] = [:]
    var reachable: Set<String> = []
    /// Containers of attempts this pass followed (the sweep leaves them alone).
    var handled: Set<String> = []
    /// Standing conditions, each reported when it first appears.
    var notes: Set<String> = []
    /// When a container seen created and never started counts as abandoned.
    var abandonedAt: Date?
    /// When the next sensor poll is due.
    var nextSensorPoll: Date?
    /// Attempts that finished this pass: their output is saved, then their containers removed.
    var finished: [(dag: String, runID: String, container: String, node: String, id: String)] = []

    mutating func note(_ line: String) { notes.insert(line) }
}

/// A running run while a pass works on it: its record, its attempts (uncleared, as followed), and
/// the step's view of them.
struct RunContext {
    var run: RunRecord
    var records: [AttemptRecord]
    var planned: DAGRun
}

extension DAGRunner {
    /// Where the runner's wait for a change starts: read before a pass, waited on after it.
    public struct ChangeMark: Sendable {
        /// Each notice source with its mark; empty when some node has none live (then it polls).
        let marks: [(notices: ExitNotices, mark: UInt64)]

        /// True when exits are pushed to the runner (every node has a live source), false when it polls.
        public var pushed: Bool { !marks.isEmpty }

        /// True when both are pushed marks of the same sources and no exit was noticed in between.
        public func unchanged(since earlier: ChangeMark) -> Bool {
            pushed && marks.count == earlier.marks.count
                && zip(marks, earlier.marks).allSatisfy { $0.notices === $1.notices && $0.mark == $1.mark }
        }
    }

    /// Reads the exit notices of the nodes (process nodes' shims, Docker engines' event streams)
    /// when every node has a live source; otherwise the runner polls.
    public func changeMark() -> ChangeMark {
        var sources: [ExitNotices] = []
        for node in nodes {
            guard let notices = drivers[node.name]?.exitNotices(), notices.isLive else { return ChangeMark(marks: []) }
            if !sources.contains(where: { $0 === notices }) { sources.append(notices) }
        }
        return ChangeMark(marks: sources.map { ($0, $0.mark) })
    }

    /// Waits until a task may have exited since `mark`, at most until `deadline` (when the DAG step
    /// asked to run again, or the next tick): on an exit notice (from any node) at once; without
    /// live notices, after a poll interval of 50 ms. With notices the wait is also cut at 1 s, so runs triggered or rerun
    /// from outside (the CLI, the API) are taken up within a second while others are under way.
    public func waitForChange(after mark: ChangeMark, until deadline: Date) async {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else { return }
        if !mark.marks.isEmpty {
            await ExitNotices.wait(any: mark.marks, timeout: min(seconds, 1))
        } else {
            try? await Task.sleep(nanoseconds: UInt64(min(seconds, 0.05) * 1_000_000_000))
        }
    }
}
