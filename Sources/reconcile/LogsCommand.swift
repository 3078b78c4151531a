import ArgumentParser
import Foundation
import ReconcileController
import ReconcileStore

/// `reconcile logs DAG/TASK [--run RUN] [--try N]`: a task attempt's output.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the output of a DAG task's attempt (by default its latest).",
        discussion: """
            A finished attempt's output is read from where the controller saved it (<state>/logs); a
            running attempt's is read from its node.
            """)

    @Argument(help: "The task, as DAG/TASK.") var name: String
    @Option(help: "The run id (default: the latest run the task ran in).") var run: String?
    @Option(name: .customLong("try"), help: "The try number (default: the latest).") var tryNumber: Int?
    @Flag(help: "Prefix each line with its time and stream.") var timestamps = false
    @OptionGroup(title: "Git") var git: GitOptions

    func run() async throws {
        guard let slash = name.firstIndex(of: "/"), slash != name.startIndex, slash != name.index(before: name.endIndex)
        else {
            throw ValidationError("name the task as DAG/TASK, e.g. marketing-etl/enrich")
        }
        let dag = String(name[..<slash])
        let task = String(name[name.index(after: slash)...])
        let store = try Store(stateDirectory: git.state)
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
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandError("the saved output of \(name) try \(attempt.tryNumber) (\(path)) cannot be read")
            }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            where !line.isEmpty {
                print(timestamps ? String(line) : Self.text(of: line))
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
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for line in try await driver.logs(container.id, since: nil) {
            print(timestamps ? "\(format.string(from: line.time)) \(line.stream.rawValue) \(line.text)" : line.text)
        }
    }

    /// The text of a saved `TIME STREAM TEXT` line.
    static func text(of line: Substring) -> String {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        return parts.count == 3 ? String(parts[2]) : ""
    }
}
