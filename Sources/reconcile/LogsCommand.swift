import ArgumentParser
import Foundation
import ReconcileController
import ReconcileLogs
import ReconcileManifest
import ReconcileModel
import ReconcileStore

/// `reconcile logs APP|DAG/TASK [--grep RE] [--since 1h] [--follow] [--run RUN] [--try N]`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print collected output: an App's replicas, or a DAG task's attempt (by default its latest).",
        discussion: """
            App output is collected by the controller into <state>/logs/apps; a finished attempt's output
            is saved in <state>/logs/dags, a running attempt's is read from its node. --grep takes a
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
    @OptionGroup(title: "Git") var git: GitOptions

    func run() async throws {
        let pattern: LogPattern?
        do {
            pattern = try grep.map { try LogPattern($0, multiline: true) }
        } catch {
            throw ValidationError("--grep: \(error)")
        }
        let from = try since.map(Self.instant)
        let store = try Store(stateDirectory: git.state)
        let logs = LogStore(stateDirectory: git.state)
        if let slash = name.firstIndex(of: "/") {
            try await task(
                dag: String(name[..<slash]), task: String(name[name.index(after: slash)...]), store: store,
                pattern: pattern, since: from)
        } else {
            try await app(name, logs: logs, pattern: pattern, since: from)
        }
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
        var prefix = ""
        if timestamps {
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            prefix = "\(format.string(from: line.time)) \(line.stderr ? "stderr" : "stdout") "
        }
        if let source { prefix += "[\(source)] " }
        Swift.print(prefix + line.text)
    }

    // MARK: Apps

    private func app(_ app: String, logs: LogStore, pattern: LogPattern?, since: Date?) async throws {
        func sources() -> [(source: String, bases: [String])] {
            // Replica folders are `<container name>-<id>`: shown by container name.
            logs.segments(app: app).map {
                (String($0.replica.split(separator: "-").dropLast().joined(separator: "-")), $0.bases)
            }
        }
        let initial = sources()
        guard !initial.isEmpty || follow else {
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: logs.root + "/apps")) ?? []).sorted()
            throw CommandError(
                "no output collected for \(app) in \(git.state)"
                    + (known.isEmpty
                        ? " (the controller collects App output while it runs)"
                        : "; Apps with output: \(known.joined(separator: ", "))")
                    + "; a DAG task is named DAG/TASK")
        }
        let labelled = Set(initial.map(\.source)).count > 1
        let lines = LogStore.search(initial, pattern: pattern, since: since, limit: limit ?? .max)
        for (source, line) in lines { print(line, source: labelled ? source : nil) }
        guard follow else { return }
        // Follow: every 250 ms, what each segment has beyond what was printed.
        var printed: [String: Int] = [:]
        for (_, bases) in initial {
            for base in bases { printed[base] = SegmentReader(base)?.count ?? 0 }
        }
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

    private func task(dag: String, task: String, store: Store, pattern: LogPattern?, since: Date?) async throws {
        let attempts = try store.attempts(dag: dag, task: task, limit: 1_000_000).filter {
            (run == nil || $0.runID == run) && (tryNumber == nil || $0.tryNumber == tryNumber)
        }
        guard let attempt = attempts.first else {
            let which = [run.map { "run \($0)" }, tryNumber.map { "try \($0)" }].compactMap { $0 }
            throw CommandError(
                "no attempt of \(name)\(which.isEmpty ? "" : " in " + which.joined(separator: ", ")) in \(git.state); "
                    + "`reconcile runs list \(dag) --state \(git.state)` shows its runs")
        }
        if let path = attempt.logPath {
            let base = path.hasSuffix(".log") ? String(path.dropLast(4)) : path
            guard SegmentReader(base) != nil else {
                throw CommandError("the saved output of \(name) try \(attempt.tryNumber) (\(path)) cannot be read")
            }
            for (_, line) in LogStore.search([("", [base])], pattern: pattern, since: since, limit: limit ?? .max) {
                print(line, source: nil)
            }
            return
        }
        guard attempt.state == .running || attempt.state == .recorded else {
            throw CommandError(
                "\(name) run \(attempt.runID) try \(attempt.tryNumber) \(attempt.state.rawValue) without saved output")
        }
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
