import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets
import ReconcileStore

extension DAGRunner {
    /// Brings one run forward: attempt outcomes from their containers, then the planner's decisions.
    /// Returns true when the run has finished. The order keeps handoffs short: outcomes are saved,
    /// downstream tasks start (side by side), and only then is finished attempts' output saved and
    /// their containers removed (a pass interrupted before that is finished by the sweep).
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
        var changed: [AttemptRecord] = []
        var finished: [(index: Int, node: String, id: String)] = []
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
                    // Seen created for a moment while it started: nothing to remember (entries for
                    // every task ever started would pile up).
                    memory.forgetCreated(record.containerName)
                    // A listing is a summary (Docker's has no exit code): read a finished one in full.
                    var info = listed
                    if listed.status == .exited, let full = try? await driver.inspect(listed.id) { info = full }
                    updated.follow(info, now: now)
                    if updated.isFinished { finished.append((index, node, info.id)) }
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
                changed.append(updated)
                records[index] = updated
            }
        }
        try store.saveAttempts(changed)
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
            guard let index = records.firstIndex(where: { $0.task == kill.task && $0.tryNumber == kill.tryNumber }),
                let driver = drivers[records[index].node], let (_, info) = pass.containers[records[index].containerName]
            else { continue }
            try? await driver.stop(info.id, grace: .seconds(10))
            records[index].state = .timedOut
            records[index].finishedAt = now
            try store.saveAttempt(records[index])
            finished.append((index, records[index].node, info.id))
            pass.events.append("~ dag \(dag.name): run \(run.runID): task \(kill.task) try \(kill.tryNumber) timed out")
        }
        // Intent first: every attempt to start is in the store (one transaction) before its container exists.
        var intents: [(AttemptRecord, TaskSpec)] = []
        for start in decision.starts {
            guard let task = tasks[start.task] else { continue }
            let line = "~ dag \(dag.name): run \(run.runID): task \(task.name) queued: "
            if pass.appsWaiting {
                pass.note(line + "App replicas waiting for room are placed first")
                continue
            }
            switch pass.room.place(task) {
            case .success(let node):
                intents.append(
                    (
                        AttemptRecord(
                            dag: dag.name, runID: run.runID, task: task.name, tryNumber: start.tryNumber, node: node,
                            containerName: start.containerName, state: .recorded, startedAt: now), task
                    ))
            case .failure(let waiting):
                pass.note(line + waiting.reason)
            }
        }
        try store.saveAttempts(intents.map(\.0))
        let started = try await startAll(intents, run: run, dag: dag, now: now)
        try store.saveAttempts(started)
        for record in started {
            // Handoff: from the last upstream's exit to this start.
            if let spec = tasks[record.task], !spec.after.isEmpty {
                let upstream = spec.after.compactMap { name in
                    records.filter { $0.task == name && $0.state == .succeeded }.compactMap(\.finishedAt).max()
                }
                if upstream.count == spec.after.count, let last = upstream.max(), record.startedAt >= last {
                    metrics?.handoff.record(.milliseconds(Int64(record.startedAt.timeIntervalSince(last) * 1000)))
                }
            }
            pass.handled.insert(record.containerName)
            pass.events.append(
                "~ dag \(dag.name): run \(run.runID): task \(record.task) try \(record.tryNumber) started")
        }
        if decision.runState != .running {
            let state: RunRecord.State = decision.runState == .succeeded ? .succeeded : .failed
            try store.finishRun(dag: dag.name, runID: run.runID, state: state, at: now, failure: decision.failure)
            pass.events.append(
                decision.failure.map { "! \($0)" } ?? "= dag \(dag.name): run \(run.runID) succeeded")
        }
        // Finished attempts: output saved, then their containers removed.
        let saved = await withTaskGroup(of: AttemptRecord?.self) { group in
            var saved: [AttemptRecord] = []
            var next = finished.makeIterator()
            func add(_ item: (index: Int, node: String, id: String)) {
                guard let driver = drivers[item.node] else { return }
                let record = records[item.index]
                group.addTask {
                    var record = record
                    await saveLogs(&record, driver: driver, id: item.id)
                    return record
                }
            }
            for _ in 0..<Self.parallelStarts { if let item = next.next() { add(item) } }
            while let record = await group.next() {
                if let record { saved.append(record) }
                if let item = next.next() { add(item) }
            }
            return saved
        }
        try store.saveAttempts(saved)
        await withTaskGroup(of: Void.self) { group in
            var next = finished.makeIterator()
            for _ in 0..<Self.parallelStarts {
                if let (_, node, id) = next.next() { group.addTask { try? await drivers[node]?.remove(id) } }
            }
            while await group.next() != nil {
                if let (_, node, id) = next.next() { group.addTask { try? await drivers[node]?.remove(id) } }
            }
        }
        return decision.runState != .running
    }

    /// Starts the attempts side by side (at most `parallelStarts` at once); each comes back running,
    /// or failed when its node refused it.
    private func startAll(
        _ intents: [(AttemptRecord, TaskSpec)], run: RunRecord, dag: DAGSpec, now: Date
    ) async throws -> [AttemptRecord] {
        guard intents.count > 1 else {
            return try await intents.asyncMap { try await start($0.0, task: $0.1, run: run, dag: dag, now: now) }
        }
        return try await withThrowingTaskGroup(of: AttemptRecord.self) { group in
            var results: [AttemptRecord] = []
            var next = intents.makeIterator()
            for _ in 0..<Self.parallelStarts {
                guard let (record, task) = next.next() else { break }
                group.addTask { try await start(record, task: task, run: run, dag: dag, now: now) }
            }
            while let record = try await group.next() {
                results.append(record)
                if let (record, task) = next.next() {
                    group.addTask { try await start(record, task: task, run: run, dag: dag, now: now) }
                }
            }
            return results
        }
    }

    /// Starts the attempt's container (adopting one of that name); the record comes back running, or
    /// failed when the node refuses it.
    func start(
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

    /// Saves the container's output as the attempt's log segment
    /// (`<state>/logs/dags/<dag>/<run>/<task>.<try>.log` and `.idx`) and points the record at it.
    /// Best effort: an attempt whose output cannot be read still finishes (without a log path).
    /// Written afresh each time, so saving twice (after a crash) stores every line once.
    func saveLogs(_ record: inout AttemptRecord, driver: any ContainerDriver, id: String) async {
        guard let lines = try? await driver.logs(id, since: nil) else { return }
        let base = logs.attemptBase(
            dag: record.dag, runID: record.runID, task: record.task, tryNumber: record.tryNumber)
        do {
            try FileManager.default.createDirectory(
                atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            LogSegment.truncate(base, text: 0, index: 0)
            try LogSegment.append(
                lines.map { CollectedLine(time: $0.time, stderr: $0.stream == .stderr, text: $0.text) }, to: base)
            record.logPath = base + ".log"
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

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
