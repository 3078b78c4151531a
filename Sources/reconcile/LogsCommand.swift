import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileLogs
import ReconcileManifest
import ReconcileModel
import ReconcileRuntime
import ReconcileStore

/// `reconcile logs APP|DAG/TASK [--grep RE] [--since 1h] [--follow] [--run RUN] [--try N]`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print collected output: an App's replicas, or a DAG task's attempt (by default its latest).",
        discussion: """
            App output is collected by the controller into <state>/logs/apps; a finished attempt's output \
            is saved in <state>/logs/dags, a running attempt's is read from its node. --grep takes a \
            PCRE2 regular expression, matched against each line.
            """)

    @Argument(help: "An App, or a task as DAG/TASK.") var name: String
    @Option(help: "Only lines matching this regular expression.") var grep: String?
    @Option(help: "Only lines since this long ago (e.g. 1h) or this RFC 3339 instant.") var since: String?
    @Flag(help: "Keep printing new lines until interrupted.") var follow = false
    @Option(help: "The run id (default: the latest run the task ran in).") var run: String?
    @Option(name: .customLong("try"), help: "The try number (default: the latest).") var tryNumber: Int?
    @Flag(help: "Prefix each line with its time and stream.") var timestamps = false
    @Option(help: "At most this many lines (the newest).") var limit: Int?
    @OptionGroup var format: OutputOptions
    var output: OutputFormat { format.output }
    @OptionGroup(title: "Git") var git: GitOptions
    @OptionGroup(title: "Controller") var remote: ControllerOptions

    func run() async throws {
        if let grep {
            do {
                _ = try LogPattern(grep, multiline: true)
            } catch {
                throw ValidationError("--grep: \(error)")
            }
        }
        let from = try since.map(Self.instant)
        if let client = try remote.client() {
            try await remoteLogs(client, since: from)
            return
        }
        let store = try Store(stateDirectory: git.state)
        let queries = Queries(store: store, stateDirectory: git.state)
        let pattern = try grep.map { try LogPattern($0, multiline: true) }
        if let slash = name.firstIndex(of: "/") {
            let running = try store.attempts(
                dag: String(name[..<slash]), task: String(name[name.index(after: slash)...]), limit: 1_000_000
            ).first { (run == nil || $0.runID == run) && (tryNumber == nil || $0.tryNumber == tryNumber) }
            if let running, running.logPath == nil, running.state == .running || running.state == .recorded {
                try await runningTask(running, store: store, pattern: pattern, since: from)
                return
            }
        }
        let (lines, positions) = try RunText.local(git.state) { _ in
            try queries.logsWithPositions(name, grep: grep, since: from, run: run, tryNumber: tryNumber, limit: limit)
        }
        let labelled = Set(lines.map(\.source)).count > 1
        for line in lines { emit(line, labelled: labelled) }
        if follow, !name.contains("/") {
            fflush(nil)
            try await followApp(
                name, logs: LogStore(stateDirectory: git.state), from: positions, pattern: pattern, labelled: labelled)
        }
    }

    /// Through the controller's API; `--follow` asks again every 250 ms for what came after.
    private func remoteLogs(_ client: ControllerClient, since: Date?) async throws {
        var after = since
        var seen: Set<LogLineView> = []
        var labelled: Bool?
        repeat {
            let query = ControllerClient.query([
                "name": name, "grep": grep, "since": after.map { String($0.timeIntervalSince1970) }, "run": run,
                "try": tryNumber.map(String.init), "limit": limit.map(String.init),
            ])
            let lines = try await client.get("logs" + query, [LogLineView].self).filter { !seen.contains($0) }
            if labelled == nil { labelled = Set(lines.map(\.source)).count > 1 }
            for line in lines { emit(line, labelled: labelled ?? false) }
            fflush(nil)
            if let last = lines.last?.time {
                after = last
                seen = Set(lines.filter { $0.time == last })
            }
            guard follow else { break }
            try await Task.sleep(for: .milliseconds(250))
        } while !Task.isCancelled
    }

    static func instant(_ text: String) throws -> Date {
        if let span = try? Timespan(parsing: text) { return Date().addingTimeInterval(-span.seconds) }
        do {
            return Date(timeIntervalSince1970: try Timestamp.parse(text))
        } catch {
            throw ValidationError("--since takes a duration (30m, 1h) or an RFC 3339 instant, not \"\(text)\"")
        }
    }

    private func print(_ line: CollectedLine, source: String?) {
        let view = LogLineView(
            source: source ?? name, time: line.time, stream: line.stderr ? "stderr" : "stdout", text: line.text)
        emit(view, labelled: source != nil)
    }

    /// One line as text, or as one JSON object on a line of its own (so `--follow` streams).
    private func emit(_ line: LogLineView, labelled: Bool) {
        switch output {
        case .text:
            Swift.print(ReportText.log(line, timestamps: timestamps, labelled: labelled))
        case .json:
            let encoder = APICoding.encoder
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: (try? encoder.encode(line)) ?? Data("{}".utf8), as: UTF8.self))
        }
    }

    // MARK: Apps

    /// Every 250 ms, what each segment of the App has beyond what was printed: from `positions`,
    /// where the listing before it stopped reading each segment (a segment it did not read, from its start).
    private func followApp(
        _ app: String, logs: LogStore, from positions: [String: Int], pattern: LogPattern?, labelled: Bool
    ) async throws {
        func sources() -> [(source: String, bases: [String])] { logs.segmentsByReplicaName(app: app) }
        var printed = positions
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            var fresh: [(source: String, line: CollectedLine)] = []
            for (source, bases) in sources() {
                for base in bases {
                    guard let reader = SegmentReader(base) else { continue }
                    let start = printed[base] ?? 0
                    guard reader.count > start else { continue }
                    let numbers = pattern.map { reader.matches($0, from: start) } ?? Array(start..<reader.count)
                    fresh += numbers.map { (source, reader.line($0)) }
                    printed[base] = reader.count
                }
            }
            for (source, line) in fresh.sorted(by: { $0.line.time < $1.line.time }) {
                print(line, source: labelled ? source : nil)
            }
            fflush(nil)
        }
    }

    // MARK: Tasks

    /// A running attempt's output, read from its node.
    private func runningTask(_ attempt: AttemptRecord, store: Store, pattern: LogPattern?, since: Date?) async throws {
        // Running: read it from its node.
        let snapshot = try await git.followedState(store: store)
        let (pass, _) = try await Pass.forState(snapshot.state, stateDirectory: git.state)
        guard let driver = pass.drivers[attempt.node],
            let container = try await driver.list().first(where: { $0.name == attempt.containerName })
        else {
            throw CommandError("\(name) try \(attempt.tryNumber) has not started on \(attempt.node) yet")
        }
        let matcher = pattern?.matcher()
        var after = since
        repeat {
            let lines = try await driver.logs(container.id, since: after).filter { line in
                after.map { line.time > $0 } ?? true
            }
            for line in lines where matcher?.matches(line.text) ?? true {
                print(CollectedLine(time: line.time, stderr: line.stream == .stderr, text: line.text), source: nil)
            }
            after = lines.last?.time ?? after
            fflush(nil)
            guard follow, try await driver.inspect(container.id)?.status == .running else { break }
            try await Task.sleep(for: .milliseconds(250))
        } while !Task.isCancelled
    }
}
