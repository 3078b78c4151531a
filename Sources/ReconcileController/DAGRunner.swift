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
    public static let dagLabel = "io.reconcile.dag"
    public static let runLabel = "io.reconcile.run"
    public static let taskLabel = "io.reconcile.task"
    public static let tryLabel = "io.reconcile.try"
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
    }

    /// What a pass sees of one node's task containers.
    typealias Listed = (node: String, info: ContainerInfo)

    /// One pass over every DAG.
    /// - Parameter appsWaiting: App replicas wait for room; tasks then start nowhere (apps first).
    public func run(
        desired: DesiredState, revision: String, now: Date, appsWaiting: Bool = false
    ) async throws
        -> Outcome
    {
        var pass = PassState(appsWaiting: appsWaiting)
        // Every node that answers, with what runs there.
        var listed: [String: [ContainerInfo]] = [:]
        var reachable: [(spec: NodeSpec, capacity: Resources)] = []
        for node in nodes {
            guard let driver = drivers[node.name], let containers = try? await driver.list() else { continue }
            listed[node.name] = containers
            guard let capacity = try await capacity(of: node, driver: driver) else { continue }
            reachable.append((node, capacity))
            for info in containers where info.labels[Self.dagLabel] != nil {
                pass.containers[info.name] = (node.name, info)
            }
        }
        pass.reachable = Set(reachable.map(\.spec.name))
        pass.room = TaskRoom(
            nodes: reachable, listed: listed,
            apps: Dictionary(desired.apps.map { ($0.name, $0.resources) }, uniquingKeysWith: { a, _ in a }),
            tasks: TaskResources(desired))
        for dag in desired.dags {
            try await schedule(dag, revision: revision, now: now, pass: &pass)
        }
        try await sweep(&pass)
        pass.events += memory.newNotes(pass.notes).sorted()
        return Outcome(events: pass.events, active: pass.active)
    }

    /// Creates the DAG's due runs, then advances its running runs, oldest first; a run that has not
    /// started waits `queued` while `maxActiveRuns` runs are under way.
    private func schedule(_ dag: DAGSpec, revision: String, now: Date, pass: inout PassState) async throws {
        var running = try store.runs(dag: dag.name, state: .running)
        let cursor = try store.dagCursor(dag.name)
        let schedule = RunScheduler.schedule(dag: dag, cursor: cursor, activeRuns: running.count, now: now)
        // The cursor is written only when it matters: a first sight, or ticks taken or dropped. With
        // nothing due, the stored cursor finds the same ticks next pass (this runs every 50 ms).
        if cursor == nil || !schedule.runs.isEmpty || schedule.dropped > 0 {
            try store.schedule(
                schedule.runs.map {
                    RunRecord(
                        dag: dag.name, runID: $0.runID, logicalDate: $0.logicalDate,
                        dataIntervalStart: $0.dataIntervalStart, dataIntervalEnd: $0.dataIntervalEnd,
                        commitID: revision, createdAt: now)
                }, dag: dag.name, cursor: schedule.cursor)
        }
        for run in schedule.runs { pass.events.append("+ dag \(dag.name): run \(run.runID) created") }
        if let alert = schedule.alert { pass.events.append("! \(alert)") }
        if !schedule.runs.isEmpty { running = try store.runs(dag: dag.name, state: .running) }
        running.sort { ($0.logicalDate, $0.createdAt) < ($1.logicalDate, $1.createdAt) }
        let attempts = try running.map { try store.attempts(dag: dag.name, runID: $0.runID) }
        var underWay = attempts.filter { !$0.isEmpty }.count
        for (run, runAttempts) in zip(running, attempts) {
            if runAttempts.isEmpty {
                guard underWay < dag.maxActiveRuns else {
                    pass.note(
                        "~ dag \(dag.name): run \(run.runID) queued (maxActiveRuns \(dag.maxActiveRuns) under way)")
                    pass.active = true
                    continue
                }
                underWay += 1
            }
            let finished = try await advance(run, dag: dag, attempts: runAttempts, now: now, pass: &pass)
            pass.active = pass.active || !finished
        }
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
    var appsWaiting: Bool
    var events: [String] = []
    var active = false
    /// Task containers by name, from every node that answered.
    var containers: [String: DAGRunner.Listed] = [:]
    var reachable: Set<String> = []
    var room = TaskRoom(nodes: [], listed: [:], apps: [:], tasks: TaskResources(DesiredState()))
    /// Containers of attempts this pass followed (the sweep leaves them alone).
    var handled: Set<String> = []
    /// Standing conditions, each reported when it first appears.
    var notes: Set<String> = []

    init(appsWaiting: Bool) { self.appsWaiting = appsWaiting }

    mutating func note(_ line: String) { notes.insert(line) }
}

extension DAGRunner {
    /// Where the runner's wait for a change starts: read before a pass, waited on after it.
    public struct ChangeMark: Sendable {
        let notices: ExitNotices?
        let value: UInt64
    }

    /// Reads the exit notices of the nodes, when one listener covers them all (process nodes of
    /// this host); otherwise the runner polls.
    public func changeMark() -> ChangeMark {
        let notices = nodes.map { drivers[$0.name]?.exitNotices() }
        guard let first = notices.first, let listener = first, notices.allSatisfy({ $0 === listener }) else {
            return ChangeMark(notices: nil, value: 0)
        }
        return ChangeMark(notices: listener, value: listener.mark)
    }

    /// Waits until a task may have exited since `mark`, at most `seconds`: on an exit notice at
    /// once, else after a poll interval (50 ms without notices; 250 ms with them, for retry delays
    /// and timeouts, which are the only changes no notice announces).
    public func waitForChange(after mark: ChangeMark, upTo seconds: Double) async {
        guard seconds > 0 else { return }
        if let notices = mark.notices {
            await notices.wait(after: mark.value, timeout: min(seconds, 0.25))
        } else {
            try? await Task.sleep(nanoseconds: UInt64(min(seconds, 0.05) * 1_000_000_000))
        }
    }
}
