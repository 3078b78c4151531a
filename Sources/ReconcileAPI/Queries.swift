import Foundation
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// Reads and actions over a state directory: what `reconcile runs|dags|alerts|logs|status` show
/// and do, and what the controller's API serves.
public struct Queries: Sendable {
    public let store: Store
    public let stateDirectory: String

    public init(store: Store, stateDirectory: String) {
        self.store = store
        self.stateDirectory = stateDirectory
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case notFound, invalid, conflict }
        public var kind: Kind
        public var description: String
        public init(_ kind: Kind, _ description: String) {
            self.kind = kind
            self.description = description
        }
    }

    // MARK: Runs

    static func view(_ run: RunRecord) -> RunView {
        RunView(
            dag: run.dag, run: run.runID, state: run.state.rawValue, logicalDate: run.logicalDate,
            dataIntervalStart: run.dataIntervalStart, dataIntervalEnd: run.dataIntervalEnd, commit: run.commitID,
            finishedAt: run.finishedAt, failure: run.failure, params: run.params,
            cancelRequestedAt: run.state == .running ? run.cancelRequestedAt : nil)
    }

    public func runs(dag: String?, limit: Int) throws -> [RunView] {
        try store.runs(dag: dag, limit: limit).map(Self.view)
    }

    /// The run named `RUN` or `DAG/RUN`.
    public func findRun(_ name: String) throws -> RunRecord {
        var dag: String?
        var runID = name
        if let slash = name.firstIndex(of: "/") {
            dag = String(name[..<slash])
            runID = String(name[name.index(after: slash)...])
        }
        let matches = try store.runs(withID: runID, dag: dag)
        guard let first = matches.first else {
            throw Failure(
                .notFound,
                "no run \(name) in \(stateDirectory); `reconcile runs list --state \(stateDirectory)` shows the runs")
        }
        guard matches.count == 1 else {
            let dags = matches.map(\.dag).sorted().joined(separator: ", ")
            throw Failure(.invalid, "run \(runID) exists in several DAGs (\(dags)); name it as DAG/\(runID)")
        }
        return first
    }

    public func run(_ name: String) throws -> RunDetailView {
        let record = try findRun(name)
        let waiting = try store.waiting(dag: record.dag, runID: record.runID).sorted { $0.key < $1.key }.map {
            Self.view(task: $0.key, reason: $0.value.reason, since: $0.value.since)
        }
        return RunDetailView(
            run: Self.view(record), attempts: try attempts(dag: record.dag, runID: record.runID), waiting: waiting)
    }

    /// Every attempt of the run, cleared ones included, by task and try.
    public func attempts(dag: String, runID: String) throws -> [AttemptView] {
        try store.attempts(dag: dag, runID: runID).map(Self.view)
    }

    /// Every attempt of each of the DAG's runs `runIDs`, by run.
    public func attempts(dag: String, runIDs: [String]) throws -> [String: [AttemptView]] {
        try store.attempts(dag: dag, runIDs: runIDs).mapValues { $0.map(Self.view) }
    }

    static func view(_ attempt: AttemptRecord) -> AttemptView {
        AttemptView(
            task: attempt.task, tryNumber: attempt.tryNumber, state: attempt.state.rawValue, exitCode: attempt.exitCode,
            node: attempt.node, container: attempt.containerName, cleared: attempt.cleared, logPath: attempt.logPath,
            startedAt: attempt.startedAt, finishedAt: attempt.finishedAt, error: attempt.error?.description,
            outputs: attempt.outputs ?? [:], marked: attempt.marked)
    }

    static func view(task: String, reason: WaitingReason, since: Date) -> WaitingView {
        var nodes: [String] = []
        if case .room(_, let rejected) = reason { nodes = rejected.map(\.description) }
        return WaitingView(task: task, reason: reason.description, since: since, nodes: nodes)
    }

    // MARK: DAGs

    public func dags(_ state: DesiredState, now: Date) throws -> [DAGView] {
        let byHand = try store.pausedDAGs()
        return try state.dags.sorted(by: { $0.name < $1.name }).map { dag in
            let paused = dag.paused || byHand[dag.name] != nil
            let schedule = RunScheduler.schedule(
                dag: dag, cursor: try store.dagCursor(dag.name), activeRuns: 0, now: now)
            let last = try store.runs(dag: dag.name, limit: 1).first
            return DAGView(
                dag: dag.name, schedule: Self.scheduleText(dag), paused: paused,
                tasks: dag.tasks.count, next: paused ? nil : schedule.nextTick, lastRun: last?.runID,
                lastState: last?.state.rawValue, active: try store.runs(dag: dag.name, state: .running).count,
                pausedBy: dag.paused ? "git" : byHand[dag.name] != nil ? "hand" : nil)
        }
    }

    /// `0 2 * * * (UTC)`, `after a, b`, or `manual`.
    public static func scheduleText(_ dag: DAGSpec) -> String {
        if let schedule = dag.schedule { return "\(schedule) (\(dag.timezone))" }
        if !dag.after.isEmpty { return "after " + dag.after.joined(separator: ", ") }
        return "manual"
    }

    /// The DAG of that name at the commit, or a not-found failure listing the DAGs.
    func spec(_ dag: String, in state: DesiredState, commit: String) throws -> DAGSpec {
        guard let spec = state.dags.first(where: { $0.name == dag }) else {
            let names = state.dags.map(\.name).sorted()
            throw Failure(
                .notFound,
                "no DAG \(dag) at commit \(commit.prefix(12)); "
                    + (names.isEmpty ? "it declares no DAG" : "DAGs: \(names.joined(separator: ", "))"))
        }
        return spec
    }

    /// A manual run `manual__<now>` with `params` checked against the DAG's (defaults for the rest).
    public func trigger(
        _ dag: String, params: [String: String] = [:], in state: DesiredState, commit: String, now: Date
    ) throws -> RunView {
        let spec = try spec(dag, in: state, commit: commit)
        let values: [String: String]
        do {
            values = try spec.resolveParams(params)
        } catch {
            throw Failure(.invalid, error.message)
        }
        let runID = "manual__" + ISO8601DateFormatter().string(from: now)
        let record = RunRecord(
            dag: dag, runID: runID, logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now, commitID: commit,
            createdAt: now, params: values)
        guard try store.addRun(record) else {
            throw Failure(.conflict, "\(dag) \(runID) exists already; trigger again in a second")
        }
        return Self.view(record)
    }

    /// Clears the run's failed tasks and/or the named ones (with everything after them when
    /// `downstream`, read from `dag`); returns the tasks that will run again and how many had attempts.
    public func rerun(
        _ name: String, failed: Bool, tasks named: [String], downstream: Bool, dag spec: DAGSpec?
    ) throws -> (run: RunView, tasks: [String], cleared: Int) {
        guard failed || !named.isEmpty else { throw Failure(.invalid, "say what to rerun: --failed, or --task NAME") }
        let record = try findRun(name)
        let attempts = try store.attempts(dag: record.dag, runID: record.runID).filter { !$0.cleared }
        var tasks = Set(named)
        if failed {
            let latest = Dictionary(grouping: attempts, by: \.task).compactMapValues {
                $0.max { $0.tryNumber < $1.tryNumber }
            }
            tasks.formUnion(latest.filter { $0.value.state == .failed || $0.value.state == .timedOut }.keys)
        }
        if downstream {
            guard let spec else { throw Failure(.invalid, "cannot read DAG \(record.dag) for --downstream") }
            var grew = true
            while grew {
                let before = tasks.count
                for task in spec.tasks where task.after.contains(where: tasks.contains) { tasks.insert(task.name) }
                grew = tasks.count > before
            }
        }
        let cleared = try store.clearAttempts(dag: record.dag, runID: record.runID, tasks: tasks)
        return (Self.view(record), tasks.sorted(), cleared)
    }

    // MARK: Alerts

    public func alerts(now: Date) throws -> AlertsView {
        let silences = try store.silences()
        let incidents = try store.incidents().map { incident in
            // The silence the alert loop recorded, else a CLI silence set since; only while it lasts.
            let until = (incident.silencedUntil ?? silences[incident.key]).flatMap { $0 > now ? $0 : nil }
            return IncidentView(
                key: incident.key, openedAt: incident.openedAt, summary: incident.summary, silencedUntil: until,
                severity: incident.severity.rawValue, state: incident.isFiring ? "firing" : "pending",
                silencedBy: until == nil ? nil : incident.silencedBy ?? "cli")
        }
        let checks = try store.checkStates().sorted { $0.key < $1.key }.map {
            CheckView(
                name: $0.key, failing: $0.value.failing, message: $0.value.message, lastRun: $0.value.lastRun,
                lastMatch: $0.value.lastMatch)
        }
        let pending = try store.outbox(limit: 1000).filter { $0.sentAt == nil }.map {
            PendingNoticeView(
                kind: $0.notice.kind.rawValue, key: $0.notice.key, notifier: $0.notice.notifier, attempts: $0.attempts,
                nextAttemptAt: $0.nextAttemptAt, givenUp: $0.failedAt != nil, lastError: $0.lastError)
        }
        return AlertsView(incidents: incidents, checks: checks, pending: pending)
    }

    static func unknownKey(_ name: String) -> Failure {
        Failure(
            .invalid,
            "\(name) is not an incident key: check/NAME (or a check's name), commit, or KIND/NAME with KIND one of "
                + ConditionKey.kinds.filter { $0 != "check" }.joined(separator: ", ")
        )
    }

    /// Silences `NAME` (an incident key, or a check's name) for `span`; returns the key and its end.
    public func silence(_ name: String, for span: Timespan, now: Date) throws -> (key: String, until: Date) {
        guard let key = ConditionKey(parsing: name)?.description else { throw Self.unknownKey(name) }
        let until = now.addingTimeInterval(span.seconds)
        try store.silence(key, until: until)
        return (key, until)
    }

    // MARK: Logs

    /// An App's collected output (merged over its replicas), or a finished task attempt's
    /// (`DAG/TASK`, default its latest run and try).
    public func logs(
        _ name: String, grep: String?, since: Date?, run: String?, tryNumber: Int?, limit: Int?
    ) throws -> [LogLineView] {
        try logsWithPositions(name, grep: grep, since: since, run: run, tryNumber: tryNumber, limit: limit).lines
    }

    /// The same, with each segment's line count when it was read (where `--follow` goes on).
    public func logsWithPositions(
        _ name: String, grep: String?, since: Date?, run: String?, tryNumber: Int?, limit: Int?
    ) throws -> (lines: [LogLineView], positions: [String: Int]) {
        let pattern: LogPattern?
        do {
            pattern = try grep.map { try LogPattern($0, multiline: true) }
        } catch {
            throw Failure(.invalid, "grep: \(error)")
        }
        let logs = LogStore(stateDirectory: stateDirectory)
        let sources: [(source: String, bases: [String])]
        if let slash = name.firstIndex(of: "/") {
            let dag = String(name[..<slash])
            let task = String(name[name.index(after: slash)...])
            let attempts = try store.attempts(dag: dag, task: task, limit: 1_000_000).filter {
                (run == nil || $0.runID == run) && (tryNumber == nil || $0.tryNumber == tryNumber)
            }
            guard let attempt = attempts.first else {
                let which = [run.map { "run \($0)" }, tryNumber.map { "try \($0)" }].compactMap { $0 }
                throw Failure(
                    .notFound,
                    "no attempt of \(name)\(which.isEmpty ? "" : " in " + which.joined(separator: ", ")) in \(stateDirectory); "
                        + "`reconcile runs list \(dag) --state \(stateDirectory)` shows its runs")
            }
            guard let path = attempt.logPath else {
                throw Failure(
                    .notFound,
                    "\(name) run \(attempt.runID) try \(attempt.tryNumber) is \(attempt.state.rawValue) without saved output"
                )
            }
            sources = [(name, [path.hasSuffix(".log") ? String(path.dropLast(4)) : path])]
        } else {
            let replicas = logs.segments(app: name)
            guard !replicas.isEmpty else {
                let known = ((try? FileManager.default.contentsOfDirectory(atPath: logs.root + "/apps")) ?? []).sorted()
                throw Failure(
                    .notFound,
                    "no output collected for \(name) in \(stateDirectory)"
                        + (known.isEmpty
                            ? " (the controller collects App output while it runs)"
                            : "; Apps with output: \(known.joined(separator: ", "))") + "; a DAG task is named DAG/TASK"
                )
            }
            sources = logs.segmentsByReplicaName(app: name)
        }
        let result = LogStore.searchWithPositions(sources, pattern: pattern, since: since, limit: limit ?? .max)
        let lines = result.found.map {
            LogLineView(
                source: $0.source, time: $0.line.time, stream: $0.line.stderr ? "stderr" : "stdout", text: $0.line.text)
        }
        return (lines, result.positions)
    }
}

// MARK: Operating pipelines

extension Queries {
    /// Pauses or unpauses the DAG by hand; says when git's `paused: true` holds it anyway.
    public func setPaused(
        _ dag: String, _ paused: Bool, in state: DesiredState, commit: String, now: Date
    ) throws
        -> String
    {
        let spec = try spec(dag, in: state, commit: commit)
        try store.setPaused(dag, paused, at: now)
        if paused { return "\(dag): paused; no scheduled run starts until `reconcile dags unpause \(dag)`" }
        if spec.paused { return "\(dag): unpaused by hand, but git still pauses it (paused: true in its manifest)" }
        return "\(dag): unpaused; missed runs follow its catchup rule"
    }

    /// Asks the controller to cancel the run (it stops the running tries at its next step).
    public func cancel(_ name: String, now: Date) throws -> RunView {
        let record = try findRun(name)
        guard record.state == .running else {
            throw Failure(
                .conflict,
                "\(record.dag) \(record.runID) has finished (\(record.state.rawValue)); only a running run can be cancelled"
            )
        }
        guard try store.requestCancel(dag: record.dag, runID: record.runID, at: now) else {
            throw Failure(.conflict, "\(record.dag) \(record.runID) finished meanwhile")
        }
        var view = Self.view(record)
        view.cancelRequestedAt = now
        return view
    }

    /// Marks the task of the run succeeded or failed, as a person decided (`spec`: the DAG, to check
    /// the task's name).
    public func mark(_ name: String, task: String, succeeded: Bool, dag spec: DAGSpec?, now: Date) throws -> AttemptView
    {
        let record = try findRun(name)
        if let spec, !spec.tasks.contains(where: { $0.name == task }) {
            let names = spec.tasks.map(\.name)
            let hint = Suggestion.closest(to: task, among: names).map { " (did you mean \($0)?)" } ?? ""
            throw Failure(
                .notFound, "dag \(record.dag) has no task \(task)\(hint); its tasks: \(names.joined(separator: ", "))")
        }
        switch try store.markTask(dag: record.dag, runID: record.runID, task: task, succeeded: succeeded, at: now) {
        case .success(let attempt): return Self.view(attempt)
        case .failure(.noRun): throw Failure(.notFound, "run \(name) is gone")
        case .failure(.cancelled):
            throw Failure(.conflict, "\(record.dag) \(record.runID) was cancelled; start a new run instead")
        case .failure(.running(let tryNumber)):
            throw Failure(
                .conflict,
                "task \(task) has try \(tryNumber) under way; wait for it, or cancel the run (`reconcile runs cancel \(record.dag)/\(record.runID)`)"
            )
        }
    }
}
