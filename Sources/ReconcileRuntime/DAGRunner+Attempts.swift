import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets
import ReconcileStore

extension DAGRunner {
    /// Brings a running run's attempts up to date with their containers (saved when they changed):
    /// a recorded attempt without a container is started (the controller stopped between recording
    /// and starting it), a container left created is replaced once abandoned, a finished one is read in
    /// full, and an attempt whose container is gone from a node that answers has failed.
    func follow(_ run: RunRecord, dag: DAGSpec, now: Date, pass: inout PassState) async throws -> RunContext {
        let all = try store.attempts(dag: dag.name, runID: run.runID)
        // Attempts a rerun cleared are history: new tries number on after them.
        var priorTries: [String: Int] = [:]
        for record in all where record.cleared {
            priorTries[record.task] = max(priorTries[record.task] ?? 0, record.tryNumber)
        }
        var records = all.filter { !$0.cleared }
        let tasks = Dictionary(dag.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var changed: [AttemptRecord] = []
        // A run being cancelled starts nothing, not even an attempt recorded before a crash.
        let cancelling = run.cancelRequestedAt != nil
        for (index, record) in records.enumerated() where record.state == .recorded || record.state == .running {
            pass.handled.insert(record.containerName)
            var updated = record
            if record.node.isEmpty, let sensor = tasks[record.task]?.sensor {
                // A sensor: no container; polled here when due.
                updated = await pollSensor(record, sensor: sensor, now: now, pass: &pass)
            } else if let (node, listed) = pass.containers[record.containerName], let driver = drivers[node] {
                if listed.status == .created {
                    // Created and never started: an interrupted start. Replaced once it is clearly
                    // abandoned, counted from its creation as the node recorded it (a controller that
                    // restarts more often than `abandonedAfter` would otherwise never replace it), or
                    // from when this controller first saw it if that is earlier (clock skew).
                    let firstSeen = memory.createdSince(record.containerName, now: now)
                    let since = listed.createdAt.map { min($0, firstSeen) } ?? firstSeen
                    let due = since.addingTimeInterval(Self.abandonedAfter)
                    guard now >= due, !cancelling, let task = tasks[record.task] else {
                        pass.abandonedAt = min(pass.abandonedAt ?? due, due)
                        continue
                    }
                    try? await driver.remove(listed.id)
                    memory.forgetCreated(record.containerName)
                    updated = try await start(
                        record, task: task, run: run, dag: dag,
                        outputs: Self.outputVariables(for: task, dag: dag, records: records), now: now)
                } else {
                    // Seen created for a moment while it started: nothing to remember (entries for
                    // every task ever started would pile up).
                    memory.forgetCreated(record.containerName)
                    // A listing is a summary (Docker's has no exit code): read a finished one in full.
                    var info = listed
                    if listed.status == .exited, let full = try? await driver.inspect(listed.id) { info = full }
                    updated.follow(info, now: now, memoryLimit: tasks[record.task]?.resources.memory)
                    if updated.state == .succeeded, tasks[record.task] != nil {
                        // Read before the step, so the downstream it starts now sees them.
                        await readOutputs(&updated, driver: driver, id: info.id)
                    }
                    if updated.isFinished {
                        pass.finished.append((run.dag, run.runID, record.containerName, node, info.id))
                    }
                }
            } else if drivers[record.node] == nil {
                updated.state = .failed
                updated.finishedAt = now
                updated.error = .unplaceable("node \(record.node) is no longer declared")
            } else if record.state == .recorded, !cancelling, let task = tasks[record.task] {
                // Recorded, never started (the controller stopped in between): start it now.
                updated = try await start(
                    record, task: task, run: run, dag: dag,
                    outputs: Self.outputVariables(for: task, dag: dag, records: records), now: now)
            } else if pass.reachable.contains(record.node) {
                updated.state = .failed  // its container is gone (removed by hand, or its node lost it)
                updated.finishedAt = now
                updated.error = .containerLost(node: record.node)
            }
            if updated != record {
                changed.append(updated)
                records[index] = updated
            }
        }
        try store.saveAttempts(changed)
        return RunContext(
            run: run, records: records,
            planned: DAGRun(
                runID: run.runID, logicalDate: run.logicalDate, createdAt: run.createdAt,
                attempts: records.map { $0.taskAttempt(now: now) }, priorTries: priorTries,
                cancelRequested: run.cancelRequestedAt != nil))
    }

    /// Carries out one step's actions: schedules, kills, starts (each recorded before its container
    /// exists, so a pass interrupted at any line is finished by the next one), finished runs and the
    /// waiting reasons; then saves finished attempts' output and removes their containers. The order
    /// keeps handoffs short: downstream tasks start (side by side) before any output is saved.
    func carryOut(
        _ actions: DAGActions, desired: DesiredState, revision: String, now: Date, runs: inout [String: RunContext],
        pass: inout PassState
    ) async throws {
        let dags = Dictionary(desired.dags.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for schedule in actions.schedules {
            let records = schedule.runs.map {
                RunRecord(
                    dag: schedule.dag, runID: $0.runID, logicalDate: $0.logicalDate,
                    dataIntervalStart: $0.dataIntervalStart, dataIntervalEnd: $0.dataIntervalEnd,
                    commitID: revision, createdAt: now)
            }
            try store.schedule(records, dag: schedule.dag, cursor: schedule.cursor)
            for run in records {
                runs[Self.key(run.dag, run.runID)] = RunContext(
                    run: run, records: [],
                    planned: DAGRun(runID: run.runID, logicalDate: run.logicalDate, createdAt: now, attempts: []))
                pass.events.append("+ dag \(run.dag): run \(run.runID) created")
            }
            if let alert = schedule.alert { pass.events.append("! \(alert)") }
        }
        for kill in actions.kills {
            let key = Self.key(kill.dag, kill.runID)
            guard var context = runs[key],
                let index = context.records.firstIndex(where: { $0.task == kill.task && $0.tryNumber == kill.tryNumber }
                ),
                let driver = drivers[context.records[index].node],
                let (node, info) = pass.containers[context.records[index].containerName]
            else { continue }
            try? await driver.stop(info.id, grace: .seconds(10))
            context.records[index].state = .timedOut
            context.records[index].finishedAt = now
            context.records[index].error = .timedOut(kill.timeout)
            try store.saveAttempt(context.records[index])
            pass.finished.append((kill.dag, kill.runID, context.records[index].containerName, node, info.id))
            runs[key] = context
            pass.events.append(
                "~ dag \(kill.dag): run \(kill.runID): task \(kill.task) try \(kill.tryNumber) timed out")
        }
        try await cancel(actions.cancels, now: now, runs: &runs, pass: &pass)
        // Sensors start by being recorded: they wait on no node, polled by the next passes.
        var sensors: [AttemptRecord] = []
        for start in actions.starts where start.placement == nil {
            sensors.append(
                AttemptRecord(
                    dag: start.dag, runID: start.runID, task: start.task, tryNumber: start.tryNumber, node: "",
                    containerName: start.containerName, state: .running, startedAt: now))
        }
        try store.saveAttempts(sensors)
        for record in sensors {
            runs[Self.key(record.dag, record.runID)]?.records.append(record)
            pass.handled.insert(record.containerName)
            pass.nextSensorPoll = now
            pass.events.append(
                "~ dag \(record.dag): run \(record.runID): task \(record.task) try \(record.tryNumber) waiting")
        }
        // Intent first: every attempt to start is in the store (one transaction) before its container exists.
        var intents: [(AttemptRecord, TaskSpec, RunRecord, DAGSpec, [String: String])] = []
        for start in actions.starts where start.placement != nil {
            guard let dag = dags[start.dag], let task = dag.tasks.first(where: { $0.name == start.task }),
                let context = runs[Self.key(start.dag, start.runID)]
            else { continue }
            let run = context.run
            intents.append(
                (
                    AttemptRecord(
                        dag: dag.name, runID: run.runID, task: task.name, tryNumber: start.tryNumber, node: start.node,
                        containerName: start.containerName, state: .recorded, startedAt: now), task, run, dag,
                    Self.outputVariables(for: task, dag: dag, records: context.records)
                ))
        }
        try store.saveAttempts(intents.map(\.0))
        let started = try await startAll(intents, registries: desired.registries, now: now)
        try store.saveAttempts(started)
        for record in started {
            let key = Self.key(record.dag, record.runID)
            runs[key]?.records.append(record)
            // Handoff: from the last upstream's exit to this start.
            if let spec = dags[record.dag]?.tasks.first(where: { $0.name == record.task }), !spec.after.isEmpty,
                let records = runs[key]?.records
            {
                let upstream = spec.after.compactMap { name in
                    records.filter { $0.task == name && $0.state == .succeeded }.compactMap(\.finishedAt).max()
                }
                if upstream.count == spec.after.count, let last = upstream.max(), record.startedAt >= last {
                    metrics?.handoff.record(.milliseconds(Int64(record.startedAt.timeIntervalSince(last) * 1000)))
                }
            }
            pass.handled.insert(record.containerName)
            pass.events.append(
                "~ dag \(record.dag): run \(record.runID): task \(record.task) try \(record.tryNumber) started")
        }
        var finishedRuns: Set<String> = []
        for finish in actions.finishes {
            try store.finishRun(
                dag: finish.dag, runID: finish.runID,
                state: finish.cancelled ? .cancelled : finish.succeeded ? .succeeded : .failed, at: now,
                failure: finish.failure)
            finishedRuns.insert(Self.key(finish.dag, finish.runID))
            pass.events.append(
                finish.cancelled
                    ? "= dag \(finish.dag): run \(finish.runID) cancelled"
                    : finish.failure.map { "! \($0)" } ?? "= dag \(finish.dag): run \(finish.runID) succeeded")
        }
        try recordWaiting(actions.waiting, runs: runs, finished: finishedRuns, now: now, pass: &pass)
        try await saveAndRemoveFinished(runs: runs, pass: pass)
        // Queued once the run's last containers are gone (a volume in use cannot be removed).
        for finish in actions.finishes where finish.succeeded {
            guard let dag = dags[finish.dag], !dag.volumes.isEmpty else { continue }
            removeRunVolumes(
                dag: dag, runID: finish.runID, records: runs[Self.key(finish.dag, finish.runID)]?.records ?? [])
        }
    }

    /// A succeeded run's volumes are queued for removal from the nodes its attempts ran on (the
    /// step removes them after its sweep, once the run's last containers are gone); one the engine
    /// still counts as in use is tried again at the next steps. A failed run keeps them for its
    /// rerun. (A controller that stops before they are gone leaves them on the node: data kept,
    /// never lost.)
    private func removeRunVolumes(dag: DAGSpec, runID: String, records: [AttemptRecord]) {
        for node in Set(records.map(\.node)) {
            for volume in dag.volumes {
                memory.removeVolumeLater(
                    RunVolumeSpec.nodeName(dag: dag.name, runID: runID, volume: volume.name), on: node)
            }
        }
    }

    /// Tries each pending run volume once (Docker may count a container it has just removed as a
    /// user for a while).
    func removePendingVolumes(pass: inout PassState) async {
        for (node, names) in memory.volumesToRemove.sorted(by: { $0.key < $1.key }) {
            guard let driver = drivers[node] else {
                for name in names { memory.volumeRemoved(name, on: node) }
                continue
            }
            for name in names.sorted() {
                do {
                    try await driver.removeVolume(name)
                    memory.volumeRemoved(name, on: node)
                } catch let error as DriverError where error.kind == .conflict || error.kind == .unreachable {
                    continue
                } catch {
                    memory.volumeRemoved(name, on: node)
                    pass.events.append("! volume \(name) on \(node) not removed: \(error)")
                }
            }
        }
    }

    /// Stores why each waiting task waits (when that changed) and reports room and turn waits once.
    private func recordWaiting(
        _ waiting: [DAGActions.Waiting], runs: [String: RunContext], finished: Set<String>, now: Date,
        pass: inout PassState
    ) throws {
        var byRun: [String: [String: WaitingReason]] = [:]
        for entry in waiting {
            byRun[Self.key(entry.dag, entry.runID), default: [:]][entry.task] = entry.reason
            switch entry.reason {
            case .maxActiveRuns(let limit):
                pass.note("~ dag \(entry.dag): run \(entry.runID) queued (maxActiveRuns \(limit) under way)")
            case .room(let reason, _):
                pass.note("~ dag \(entry.dag): run \(entry.runID): task \(entry.task) queued: \(reason)")
            case .pool:
                pass.note("~ dag \(entry.dag): run \(entry.runID): task \(entry.task) \(entry.reason)")
            case .upstream, .retry:
                break
            }
        }
        var live: Set<String> = []
        for (key, context) in runs where !finished.contains(key) {
            live.insert(key)
            let reasons = byRun[key] ?? [:]
            switch memory.waitingChange(dag: context.run.dag, runID: context.run.runID, reasons) {
            case nil: break
            case .all: try store.setWaiting(dag: context.run.dag, runID: context.run.runID, reasons, at: now)
            case .changes(let changed, let gone):
                try store.updateWaiting(
                    dag: context.run.dag, runID: context.run.runID, changed: changed, gone: gone, at: now)
            }
        }
        memory.keepWaiting(only: live)
    }

    /// Finished attempts: output saved, then their containers removed (side by side, bounded).
    private func saveAndRemoveFinished(runs: [String: RunContext], pass: PassState) async throws {
        let finished = pass.finished
        let records = finished.compactMap { item in
            runs[Self.key(item.dag, item.runID)]?.records.first { $0.containerName == item.container }
        }
        let saved = await Bounded.map(Array(zip(records, finished)), limit: Self.parallelStarts) { pair in
            guard let driver = drivers[pair.1.node] else { return AttemptRecord?.none }
            var record = pair.0
            await saveLogs(&record, driver: driver, id: pair.1.id)
            return record
        }
        try store.saveAttempts(saved.compactMap { $0 })
        _ = await Bounded.map(finished, limit: Self.parallelStarts) { item in
            try? await drivers[item.node]?.remove(item.id)
        }
    }

    /// Starts the attempts side by side (at most `parallelStarts` at once); each comes back running,
    /// or failed when its node refused it.
    private func startAll(
        _ intents: [(AttemptRecord, TaskSpec, RunRecord, DAGSpec, [String: String])], registries: [RegistrySpec],
        now: Date
    ) async throws -> [AttemptRecord] {
        guard intents.count > 1 else {
            var results: [AttemptRecord] = []
            for (record, task, run, dag, outputs) in intents {
                results.append(
                    try await start(
                        record, task: task, run: run, dag: dag, outputs: outputs, registries: registries, now: now))
            }
            return results
        }
        return try await Bounded.map(intents, limit: Self.parallelStarts) { record, task, run, dag, outputs in
            try await start(record, task: task, run: run, dag: dag, outputs: outputs, registries: registries, now: now)
        }
    }

    /// Starts the attempt's container (adopting one of that name); the record comes back running, or
    /// failed when the node refuses it.
    func start(
        _ record: AttemptRecord, task: TaskSpec, run: RunRecord, dag: DAGSpec, outputs: [String: String] = [:],
        registries: [RegistrySpec] = [], now: Date
    ) async throws -> AttemptRecord {
        var record = record
        guard let driver = drivers[record.node] else {
            record.state = .failed
            record.finishedAt = now
            record.error = .unplaceable("node \(record.node) is no longer declared")
            return record
        }
        let variables = Self.variables(dag: dag, run: run, task: task.name, tryNumber: record.tryNumber)
            .merging(outputs) { own, _ in own }
        var env = variables
        for (key, value) in task.env { env[key] = Self.expand(value, variables) }
        let files: [ContainerFile]
        do {
            for (key, reference) in task.secretEnv { env[key] = try SecretReader.read(reference) }
            files = try WorkloadFiles.containerFiles(task.files)
        } catch {
            record.state = .failed
            record.finishedAt = now
            record.error = .secret("\(error)")
            return record
        }
        do {
            // The image first (its pull does not count against the task's timeout, which runs from
            // the container's start).
            if let image = task.image, driver.runsImages {
                try await ImagePull.prepare(image, policy: task.pull, driver: driver, registries: registries)
            }
            let info = try await driver.run(
                ContainerSpec(
                    name: record.containerName, image: task.image,
                    command: task.command.map { $0.map { Self.expand($0, variables) } }, env: env,
                    resources: task.resources,
                    labels: [
                        Self.dagLabel: dag.name, Self.runLabel: run.runID, Self.taskLabel: task.name,
                        Self.tryLabel: String(record.tryNumber),
                    ], network: task.network, files: files,
                    mounts: WorkloadFiles.mounts(task.volumes, run: (dag.name, run.runID)), collectsOutputs: true))
            record.follow(info, now: now, memoryLimit: task.resources.memory)
            // A task quick enough to have exited by the time its start was seen: its outputs now.
            if record.state == .succeeded { await readOutputs(&record, driver: driver, id: info.id) }
        } catch let error as DriverError where error.kind == .conflict {
            record.state = .running  // started by an interrupted pass: the next pass reads its state
        } catch {
            // Never ran: no exit code; the error says why.
            record.state = .failed
            record.finishedAt = now
            if let error = error as? DriverError {
                record.error =
                    error.operation.hasPrefix("pull")
                    ? .pullFailed(
                        "\(error.operation.dropFirst("pull image ".count)) on node \(error.node): \(error.message)")
                    : .startFailed(error.description)
            } else {
                record.error = .startFailed("\(error)")
            }
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

    /// The task variables of manifests/dag.yaml, also set in the environment.
    /// `PARAM_<NAME>` of every param: the run's value, else the param's default (a scheduled run, or
    /// one created before the param was declared).
    static func variables(dag: DAGSpec, run: RunRecord, task: String, tryNumber: Int) -> [String: String] {
        var variables = variables(dag: dag.name, run: run, task: task, tryNumber: tryNumber)
        for param in dag.params where variables[param.variable] == nil {
            if let value = param.defaultValue { variables[param.variable] = value }
        }
        return variables
    }

    static func variables(dag: String, run: RunRecord, task: String, tryNumber: Int) -> [String: String] {
        let format = ISO8601DateFormatter()
        var variables = [
            "DAG": dag, "RUN_ID": run.runID, "TASK": task, "TRY_NUMBER": String(tryNumber),
            "LOGICAL_DATE": format.string(from: run.logicalDate),
            "DATA_INTERVAL_START": format.string(from: run.dataIntervalStart),
            "DATA_INTERVAL_END": format.string(from: run.dataIntervalEnd),
        ]
        for (name, value) in run.params { variables[DAGParam.variable(name)] = value }
        return variables
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

    /// Takes the state of the attempt's container: running, or finished with its exit code (and,
    /// when the kernel killed it at its memory limit, that as its error).
    mutating func follow(_ info: ContainerInfo, now: Date, memoryLimit: MemoryQuantity?) {
        startedAt = info.startedAt ?? startedAt
        if info.status == .exited {
            let code = info.exitCode ?? -1
            state = code == 0 ? .succeeded : .failed
            exitCode = code
            finishedAt = info.finishedAt ?? now
            if code != 0, info.oomKilled { error = .outOfMemory(limit: memoryLimit) }
        } else {
            state = .running
        }
    }
}

extension AttemptRecord {
    /// The step's view of the attempt.
    func taskAttempt(now: Date) -> TaskAttempt {
        let outcome: TaskAttempt.Outcome
        switch state {
        case .recorded, .running: outcome = .running
        case .succeeded: outcome = .succeeded(at: finishedAt ?? now)
        case .failed: outcome = .failed(exitCode: exitCode ?? -1, at: finishedAt ?? now)
        case .timedOut: outcome = .timedOut(at: finishedAt ?? now)
        case .cancelled: outcome = .failed(exitCode: exitCode ?? -1, at: finishedAt ?? now)
        }
        return TaskAttempt(
            task: task, tryNumber: tryNumber, startedAt: startedAt, outcome: outcome, error: error,
            node: node.isEmpty ? nil : node, marked: marked)
    }
}
