import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets
import ReconcileStore

extension DAGRunner {
    /// Brings one run forward: attempt outcomes from their containers, then the planner's decisions.
    /// Returns true when the run has finished.
    func advance(
        _ run: RunRecord, dag: DAGSpec, attempts all: [AttemptRecord], now: Date, pass: inout PassState
    ) async throws -> Bool {
        // Attempts a rerun cleared are history: new tries number on after them.
        var priorTries: [String: Int] = [:]
        for record in all where record.cleared {
            priorTries[record.task] = max(priorTries[record.task] ?? 0, record.tryNumber)
        }
        var records = all.filter { !$0.cleared }
        let tasks = Dictionary(dag.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (index, record) in records.enumerated() where record.state == .recorded || record.state == .running {
            pass.handled.insert(record.containerName)
            var updated = record
            if let (node, listed) = pass.containers[record.containerName], let driver = drivers[node] {
                if listed.status == .created {
                    // Created and never started: an interrupted start. Replaced once it is clearly abandoned.
                    let since = memory.createdSince(record.containerName, now: now)
                    guard now.timeIntervalSince(since) >= Self.abandonedAfter, let task = tasks[record.task] else {
                        continue
                    }
                    try? await driver.remove(listed.id)
                    memory.forgetCreated(record.containerName)
                    updated = try await start(record, task: task, run: run, dag: dag, now: now)
                } else {
                    // A listing is a summary (Docker's has no exit code): read a finished one in full.
                    var info = listed
                    if listed.status == .exited, let full = try? await driver.inspect(listed.id) { info = full }
                    updated.follow(info, now: now)
                    if updated.isFinished {
                        await saveLogs(&updated, driver: driver, id: info.id)
                        try store.saveAttempt(updated)
                        try? await driver.remove(info.id)
                    }
                }
            } else if record.state == .recorded, let task = tasks[record.task] {
                // Recorded, never started (the controller stopped in between): start it now.
                updated = try await start(record, task: task, run: run, dag: dag, now: now)
            } else if pass.reachable.contains(record.node) {
                updated.state = .failed  // its container is gone (removed by hand, or its node lost it)
                updated.exitCode = -1
                updated.finishedAt = now
            }
            if updated != record {
                try store.saveAttempt(updated)
                records[index] = updated
            }
        }
        let attempts = records.map { record -> TaskAttempt in
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
                let driver = drivers[record.node], let (_, info) = pass.containers[record.containerName]
            else { continue }
            try? await driver.stop(info.id, grace: .seconds(10))
            record.state = .timedOut
            record.finishedAt = now
            await saveLogs(&record, driver: driver, id: info.id)
            try store.saveAttempt(record)
            try? await driver.remove(info.id)
            pass.events.append("~ dag \(dag.name): run \(run.runID): task \(kill.task) try \(kill.tryNumber) timed out")
        }
        for start in decision.starts {
            guard let task = tasks[start.task] else { continue }
            let line = "~ dag \(dag.name): run \(run.runID): task \(task.name) queued: "
            if pass.appsWaiting {
                pass.note(line + "App replicas waiting for room are placed first")
                continue
            }
            let node: String
            switch pass.room.place(task) {
            case .success(let chosen): node = chosen
            case .failure(let waiting):
                pass.note(line + waiting.reason)
                continue
            }
            // Intent first: the attempt is in the store before its container exists.
            let record = AttemptRecord(
                dag: dag.name, runID: run.runID, task: task.name, tryNumber: start.tryNumber, node: node,
                containerName: start.containerName, state: .recorded, startedAt: now)
            try store.saveAttempt(record)
            let started = try await self.start(record, task: task, run: run, dag: dag, now: now)
            try store.saveAttempt(started)
            pass.handled.insert(record.containerName)
            pass.events.append("~ dag \(dag.name): run \(run.runID): task \(task.name) try \(start.tryNumber) started")
        }
        if decision.runState != .running {
            let state: RunRecord.State = decision.runState == .succeeded ? .succeeded : .failed
            try store.finishRun(dag: dag.name, runID: run.runID, state: state, at: now, failure: decision.failure)
            pass.events.append(
                decision.failure.map { "! \($0)" } ?? "= dag \(dag.name): run \(run.runID) succeeded")
        }
        return decision.runState != .running
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

    /// Saves the container's output to `<state>/logs/<dag>/<run>/<task>.<try>.log`, one
    /// `TIME STREAM TEXT` line per output line, and points the record at it. Best effort: an attempt
    /// whose output cannot be read still finishes (without a log path).
    func saveLogs(_ record: inout AttemptRecord, driver: any ContainerDriver, id: String) async {
        guard let lines = try? await driver.logs(id, since: nil) else { return }
        let folder = [logDirectory, record.dag, Self.fileName(record.runID)].joined(separator: "/")
        let path = folder + "/\(Self.fileName(record.task)).\(record.tryNumber).log"
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var text = ""
        for line in lines { text += "\(format.string(from: line.time)) \(line.stream.rawValue) \(line.text)\n" }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            record.logPath = path
        } catch {
            return
        }
    }

    /// A run id or task name as a file name (run ids hold ':').
    static func fileName(_ text: String) -> String {
        String(text.map { $0 == ":" || $0 == "/" ? "_" : $0 })
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
    var isFinished: Bool { state != .recorded && state != .running }

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
