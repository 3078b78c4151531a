import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets
import ReconcileStore

/// Runs DAGs, one pass at a time: creates due runs (RunScheduler), reads what each attempt's
/// container did, decides (TaskPlanner), and starts, kills and records attempts. Each attempt is
/// recorded before its container starts, under a deterministic name, so a pass interrupted at any
/// line is finished by the next one: a recorded attempt without a container is started, a container
/// that exists is adopted, never started twice.
public struct DAGRunner: Sendable {
    public static let dagLabel = "io.reconcile.dag"
    public static let runLabel = "io.reconcile.run"
    public static let taskLabel = "io.reconcile.task"
    public static let tryLabel = "io.reconcile.try"

    let nodes: [NodeSpec]
    let drivers: [String: any ContainerDriver]
    let store: Store

    public init(nodes: [NodeSpec], drivers: [String: any ContainerDriver], store: Store) {
        self.nodes = nodes
        self.drivers = drivers
        self.store = store
    }

    /// What one pass did.
    public struct Outcome: Sendable {
        /// One line per event.
        public var events: [String]
        /// Some run of a DAG in git is still running (the controller then looks again soon).
        public var active: Bool
    }

    /// One pass over every DAG.
    public func run(desired: DesiredState, revision: String, now: Date) async throws -> Outcome {
        var events: [String] = []
        var active = false
        // Task containers by name, from every node that answers.
        var containers: [String: (node: String, info: ContainerInfo)] = [:]
        var reachable: Set<String> = []
        for node in nodes {
            guard let driver = drivers[node.name], let listed = try? await driver.list() else { continue }
            reachable.insert(node.name)
            for info in listed where info.labels[Self.dagLabel] != nil { containers[info.name] = (node.name, info) }
        }
        for dag in desired.dags {
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
            for run in schedule.runs { events.append("+ dag \(dag.name): run \(run.runID) created") }
            if let alert = schedule.alert { events.append("! \(alert)") }
            if !schedule.runs.isEmpty { running = try store.runs(dag: dag.name, state: .running) }
            for run in running {
                let (lines, finished) = try await advance(
                    run, dag: dag, containers: containers, reachable: reachable, now: now)
                events += lines
                active = active || !finished
            }
        }
        return Outcome(events: events, active: active)
    }

    /// Brings one run forward: attempt outcomes from their containers, then the planner's decisions.
    private func advance(
        _ run: RunRecord, dag: DAGSpec, containers: [String: (node: String, info: ContainerInfo)],
        reachable: Set<String>, now: Date
    ) async throws -> (events: [String], finished: Bool) {
        var events: [String] = []
        let all = try store.attempts(dag: dag.name, runID: run.runID)
        // Attempts a rerun cleared are history: new tries number on after them.
        var priorTries: [String: Int] = [:]
        for record in all where record.cleared {
            priorTries[record.task] = max(priorTries[record.task] ?? 0, record.tryNumber)
        }
        var records = all.filter { !$0.cleared }
        let tasks = Dictionary(dag.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (index, record) in records.enumerated() where record.state == .recorded || record.state == .running {
            var updated = record
            if let (node, listed) = containers[record.containerName] {
                // A listing is a summary (Docker's has no exit code): read a finished one in full.
                var info = listed
                if listed.status == .exited, let driver = drivers[node], let full = try? await driver.inspect(listed.id)
                {
                    info = full
                }
                updated.follow(info, now: now)
            } else if record.state == .recorded, let task = tasks[record.task] {
                // Recorded, never started (the controller stopped in between): start it now.
                updated = try await start(record, task: task, run: run, dag: dag, now: now)
            } else if reachable.contains(record.node) {
                updated.state = .failed  // its container is gone (removed by hand, or its node lost it)
                updated.exitCode = -1
                updated.finishedAt = now
            }
            if updated != record {
                try store.saveAttempt(updated)
                records[index] = updated
            }
        }
        let attempts = records.compactMap { record -> TaskAttempt? in
            let outcome: TaskAttempt.Outcome
            switch record.state {
            case .recorded, .running: outcome = .running
            case .succeeded: outcome = .succeeded(at: record.finishedAt ?? now)
            case .failed: outcome = .failed(exitCode: record.exitCode ?? -1, at: record.finishedAt ?? now)
            case .timedOut: outcome = .timedOut(at: record.finishedAt ?? now)
            }
            return TaskAttempt(
                task: record.task, tryNumber: record.tryNumber, startedAt: record.startedAt, outcome: outcome)
        }
        let decision = TaskPlanner.decide(
            dag: dag, runID: run.runID, attempts: attempts, now: now, priorTries: priorTries)
        for kill in decision.kills {
            guard var record = records.first(where: { $0.task == kill.task && $0.tryNumber == kill.tryNumber }),
                let driver = drivers[record.node], let (_, info) = containers[record.containerName]
            else { continue }
            try? await driver.stop(info.id, grace: .seconds(10))
            record.state = .timedOut
            record.finishedAt = now
            try store.saveAttempt(record)
            events.append("~ dag \(dag.name): run \(run.runID): task \(kill.task) try \(kill.tryNumber) timed out")
        }
        for start in decision.starts {
            guard let task = tasks[start.task] else { continue }
            guard let node = nodes.first(where: { reachable.contains($0.name) && canRun(task, on: $0) }) else {
                events.append("! dag \(dag.name): task \(task.name) waits: no reachable node can run it")
                continue
            }
            // Intent first: the attempt is in the store before its container exists.
            let record = AttemptRecord(
                dag: dag.name, runID: run.runID, task: task.name, tryNumber: start.tryNumber, node: node.name,
                containerName: start.containerName, state: .recorded, startedAt: now)
            try store.saveAttempt(record)
            let started = try await self.start(record, task: task, run: run, dag: dag, now: now)
            try store.saveAttempt(started)
            events.append("~ dag \(dag.name): run \(run.runID): task \(task.name) try \(start.tryNumber) started")
        }
        if decision.runState != .running {
            let state: RunRecord.State = decision.runState == .succeeded ? .succeeded : .failed
            try store.finishRun(dag: dag.name, runID: run.runID, state: state, at: now, failure: decision.failure)
            events.append(
                decision.failure.map { "! \($0)" } ?? "= dag \(dag.name): run \(run.runID) succeeded")
        }
        return (events, decision.runState != .running)
    }

    func canRun(_ task: TaskSpec, on node: NodeSpec) -> Bool {
        node.isProcessNode ? task.command != nil : task.image != nil
    }

    /// Starts the attempt's container (adopting one of that name); the record comes back running, or
    /// failed when the node refuses it.
    private func start(
        _ record: AttemptRecord, task: TaskSpec, run: RunRecord, dag: DAGSpec, now: Date
    ) async throws -> AttemptRecord {
        var record = record
        guard let driver = drivers[record.node] else { return record }
        let variables = Self.variables(dag: dag.name, run: run, task: task.name, tryNumber: record.tryNumber)
        do {
            var env = variables
            for (key, value) in task.env { env[key] = Self.expand(value, variables) }
            for (key, reference) in task.secretEnv { env[key] = try SecretReader.read(reference) }
            let info = try await driver.run(
                ContainerSpec(
                    name: record.containerName, image: task.image,
                    command: task.command.map { $0.map { Self.expand($0, variables) } }, env: env,
                    resources: task.resources,
                    labels: [
                        Self.dagLabel: dag.name, Self.runLabel: run.runID, Self.taskLabel: task.name,
                        Self.tryLabel: String(record.tryNumber),
                    ]))
            record.follow(info, now: now)
        } catch let error as DriverError where error.kind == .conflict {
            record.state = .running  // started by an interrupted pass: the next pass reads its state
        } catch {
            record.state = .failed
            record.exitCode = -1
            record.finishedAt = now
        }
        return record
    }

    /// The task variables of MANIFESTS.md, also set in the environment.
    static func variables(dag: String, run: RunRecord, task: String, tryNumber: Int) -> [String: String] {
        let format = ISO8601DateFormatter()
        return [
            "DAG": dag, "RUN_ID": run.runID, "TASK": task, "TRY_NUMBER": String(tryNumber),
            "LOGICAL_DATE": format.string(from: run.logicalDate),
            "DATA_INTERVAL_START": format.string(from: run.dataIntervalStart),
            "DATA_INTERVAL_END": format.string(from: run.dataIntervalEnd),
        ]
    }

    /// Replaces `${NAME}` of the task variables (validation rejects any other name).
    static func expand(_ text: String, _ variables: [String: String]) -> String {
        guard text.contains("${") else { return text }
        var result = text
        for (name, value) in variables { result = result.replacingOccurrences(of: "${\(name)}", with: value) }
        return result
    }
}

extension AttemptRecord {
    /// Takes the state of the attempt's container: running, or finished with its exit code.
    mutating func follow(_ info: ContainerInfo, now: Date) {
        startedAt = info.startedAt ?? startedAt
        if info.status == .exited {
            let code = info.exitCode ?? -1
            state = code == 0 ? .succeeded : .failed
            exitCode = code
            finishedAt = info.finishedAt ?? now
        } else {
            state = .running
        }
    }
}
