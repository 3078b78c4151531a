import ArgumentParser
import Foundation
import ReconcileStore

/// `reconcile runs list [DAG]` and `reconcile runs show RUN`: run history from the state directory.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "DAG run history with every task attempt.",
        subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runs, newest first.")
        @Argument(help: "Only this DAG's runs.") var dag: String?
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        var state: String { git.state }
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text
        @Option(help: "At most this many runs.") var limit: Int = 50

        func run() throws {
            let runs = try Store(stateDirectory: state).runs(dag: dag, limit: limit)
            switch output {
            case .json:
                let rows = runs.map { run -> [String: String] in
                    var row = [
                        "dag": run.dag, "run": run.runID, "state": run.state.rawValue,
                        "logicalDate": RunText.time(run.logicalDate), "commit": run.commitID,
                    ]
                    row["finishedAt"] = run.finishedAt.map(RunText.time)
                    row["failure"] = run.failure
                    return row
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
            case .text:
                for run in runs {
                    print("\(run.dag)  \(run.runID)  \(run.state.rawValue)  logical \(RunText.time(run.logicalDate))")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run: its tasks and every attempt.")
        @Argument(help: "The run id, or DAG/RUN when several DAGs have a run of that id.") var runID: String
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        var state: String { git.state }

        func run() throws {
            let store = try Store(stateDirectory: state)
            let record = try RunText.find(runID, in: store, state: state)
            print("\(record.dag) \(record.runID): \(record.state.rawValue)")
            print(
                "  logical date \(RunText.time(record.logicalDate)), data interval "
                    + "\(RunText.time(record.dataIntervalStart)) .. \(RunText.time(record.dataIntervalEnd)), "
                    + "commit \(record.commitID.prefix(12))")
            if let failure = record.failure { print("  \(failure)") }
            let attempts = try store.attempts(dag: record.dag, runID: record.runID)
            for (task, tries) in Dictionary(grouping: attempts, by: \.task).sorted(by: { $0.key < $1.key }) {
                print("  \(task)")
                for attempt in tries {
                    let code = attempt.exitCode.map { " exit \($0)" } ?? ""
                    print(
                        "    try \(attempt.tryNumber): \(attempt.state.rawValue)\(code) on \(attempt.node) "
                            + "(\(attempt.containerName))\(attempt.cleared ? " [cleared by rerun]" : "")")
                    if let path = attempt.logPath { print("      log \(path)") }
                }
            }
        }
    }
}

/// `reconcile rerun RUN [--failed] [--task T [--downstream]]`: continue a run after a fix.
struct RerunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Run tasks of a run again (the controller picks it up on its next tick).",
        discussion: """
            --failed clears the tasks whose last try failed (their upstreamFailed downstream runs again
            once they succeed); --task T clears T, and with --downstream every task after it (read from
            the DAG at --ref). Cleared attempts stay in the history; new tries number on after them.
            """)

    @Argument(help: "The run id, or DAG/RUN.") var runID: String
    @Flag(help: "Rerun the tasks that failed.") var failed = false
    @Option(help: "Rerun this task.") var task: [String] = []
    @Flag(help: "With --task: also every task downstream of it.") var downstream = false
    @OptionGroup(title: "Git (for --downstream)") var git: GitOptions

    func run() async throws {
        guard failed || !task.isEmpty else {
            throw ValidationError("say what to rerun: --failed, or --task NAME")
        }
        let store = try Store(stateDirectory: git.state)
        let record = try RunText.find(runID, in: store, state: git.state)
        let attempts = try store.attempts(dag: record.dag, runID: record.runID).filter { !$0.cleared }
        var tasks = Set(task)
        if failed {
            let latest = Dictionary(grouping: attempts, by: \.task).compactMapValues {
                $0.max { $0.tryNumber < $1.tryNumber }
            }
            tasks.formUnion(latest.filter { $0.value.state == .failed || $0.value.state == .timedOut }.keys)
        }
        if downstream {
            let source = try git.manifestSource(repository: git.repo ?? ".")
            guard let snapshot = await source.poll().inForce,
                let dag = snapshot.state.dags.first(where: { $0.name == record.dag })
            else {
                throw CommandError("cannot read DAG \(record.dag) at \(git.ref) for --downstream")
            }
            var grew = true
            while grew {
                let before = tasks.count
                for spec in dag.tasks where spec.after.contains(where: tasks.contains) { tasks.insert(spec.name) }
                grew = tasks.count > before
            }
        }
        let cleared = try store.clearAttempts(dag: record.dag, runID: record.runID, tasks: tasks)
        print(
            "\(record.dag) \(record.runID): \(tasks.sorted().joined(separator: ", ")) will run again "
                + "(\(cleared) task\(cleared == 1 ? "" : "s") had attempts)")
    }
}

enum RunText {
    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// The run named `RUN` or `DAG/RUN`; a clear error when there is none or the id is ambiguous.
    static func find(_ name: String, in store: Store, state: String) throws -> RunRecord {
        var dag: String?
        var runID = name
        if let slash = name.firstIndex(of: "/") {
            dag = String(name[..<slash])
            runID = String(name[name.index(after: slash)...])
        }
        let matches = try store.runs(dag: dag, limit: 100_000).filter { $0.runID == runID }
        guard let first = matches.first else {
            throw CommandError("no run \(name) in \(state); `reconcile runs list --state \(state)` shows the runs")
        }
        guard matches.count == 1 else {
            let dags = matches.map(\.dag).sorted().joined(separator: ", ")
            throw CommandError("run \(runID) exists in several DAGs (\(dags)); name it as DAG/\(runID)")
        }
        return first
    }
}

/// A failure of a command that is not about its usage: printed as `Error: ...` without the usage text.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
