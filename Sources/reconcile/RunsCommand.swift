import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileStore

/// `reconcile runs list [DAG]` and `reconcile runs show RUN`: run history, from the state directory
/// or a running controller (`--controller URL`).
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "DAG run history with every task attempt.",
        subcommands: [List.self, Show.self, Cancel.self, Mark.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runs, newest first.")
        @Argument(help: "Only this DAG's runs.") var dag: String?
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }
        @Option(help: "At most this many runs.") var limit: Int = 50

        func run() async throws {
            let runs: [RunView]
            if let client = try remote.client() {
                runs = try await client.get(
                    "runs" + ControllerClient.query(["dag": dag, "limit": String(limit)]), [RunView].self)
            } else {
                runs = try Queries(store: try Store(stateDirectory: git.state), stateDirectory: git.state).runs(
                    dag: dag, limit: limit)
            }
            switch output {
            case .json: print(try ReportText.json(runs))
            case .text: for line in ReportText.runs(runs) { print(line) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run: its tasks and every attempt.")
        @Argument(help: "The run id, or DAG/RUN when several DAGs have a run of that id.") var runID: String
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            let detail: RunDetailView
            if let client = try remote.client() {
                detail = try await client.get(try RunsCommand.apiPath(runID), RunDetailView.self)
            } else {
                detail = try RunText.local(git.state) { try $0.run(runID) }
            }
            switch output {
            case .json: print(try ReportText.json(detail))
            case .text: for line in ReportText.run(detail) { print(line) }
            }
        }
    }
}

extension RunsCommand {
    /// The `DAG/RUN` path segments of a run named for the controller's API.
    static func apiPath(_ runID: String) throws -> String {
        guard let slash = runID.firstIndex(of: "/") else {
            throw ValidationError("through --controller, name the run as DAG/RUN")
        }
        return
            "runs/\(RunText.path(String(runID[..<slash])))/\(RunText.path(String(runID[runID.index(after: slash)...])))"
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a running run: its running tries are stopped, tasks not started never run.",
            discussion: """
                The controller stops each running try with its whole process tree (10 s after SIGTERM, \
                SIGKILL), records them cancelled, and ends the run cancelled; no incident is opened.
                """)
        @Argument(help: "The run id, or DAG/RUN.") var runID: String
        @OptionGroup var format: OutputOptions
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        struct Empty: Codable {}

        func run() async throws {
            let run: RunView
            if let client = try remote.client() {
                run = try await client.post(try RunsCommand.apiPath(runID) + "/cancel", Empty(), RunView.self)
            } else {
                run = try RunText.local(git.state) { try $0.cancel(runID, now: Date()) }
            }
            switch format.output {
            case .json: print(try ReportText.json(run))
            case .text: print("\(run.dag) \(run.run): cancel asked; the controller stops it on its next step")
            }
        }
    }

    struct Mark: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a task of a run as succeeded or failed, as a person decided.",
            discussion: """
                success lets its downstream run (the run goes on); failed is final (no retry) and fails \
                the run unless a trigger rule says otherwise. Refused while the task has a try running.
                """)
        enum State: String, ExpressibleByArgument, CaseIterable {
            case success, failed
        }
        @Argument(help: "The run id, or DAG/RUN.") var runID: String
        @Option(help: "The task.") var task: String
        @Argument(help: "success or failed.") var state: State
        @OptionGroup var format: OutputOptions
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            let attempt: AttemptView
            if let client = try remote.client() {
                attempt = try await client.post(
                    try RunsCommand.apiPath(runID) + "/mark", MarkRequest(task: task, state: state.rawValue),
                    AttemptView.self)
            } else {
                let store = try Store(stateDirectory: git.state)
                let record = try RunText.local(git.state) { try $0.findRun(runID) }
                let spec = try? await git.dag(record.dag, store: store).0
                attempt = try RunText.local(git.state) {
                    try $0.mark(runID, task: task, succeeded: state == .success, dag: spec, now: Date())
                }
            }
            switch format.output {
            case .json: print(try ReportText.json(attempt))
            case .text:
                print(
                    "\(runID): task \(task) marked \(state == .success ? "succeeded" : "failed") (try \(attempt.tryNumber))"
                )
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
            --failed clears the tasks whose last try failed (their upstreamFailed downstream runs again \
            once they succeed); --task T clears T, and with --downstream every task after it (read from \
            the DAG at --ref). Cleared attempts stay in the history; new tries number on after them.
            """)

    @Argument(help: "The run id, or DAG/RUN.") var runID: String
    @Flag(help: "Rerun the tasks that failed.") var failed = false
    @Option(help: "Rerun this task.") var task: [String] = []
    @Flag(help: "With --task: also every task downstream of it.") var downstream = false
    @OptionGroup(title: "Git (for --downstream)") var git: GitOptions
    @OptionGroup(title: "Controller") var remote: ControllerOptions

    struct Request: Codable {
        var failed: Bool
        var tasks: [String]
        var downstream: Bool
    }

    struct Response: Codable {
        var run: RunView
        var tasks: [String]
        var cleared: Int
    }

    func run() async throws {
        guard failed || !task.isEmpty else {
            throw ValidationError("say what to rerun: --failed, or --task NAME")
        }
        let result: Response
        if let client = try remote.client() {
            result = try await client.post(
                try RunsCommand.apiPath(runID) + "/rerun",
                Request(failed: failed, tasks: task, downstream: downstream), Response.self)
        } else {
            let store = try Store(stateDirectory: git.state)
            let queries = Queries(store: store, stateDirectory: git.state)
            var spec: DAGSpecBox?
            if downstream {
                let record = try RunText.local(git.state) { try $0.findRun(runID) }
                spec = DAGSpecBox(try await git.dag(record.dag, store: store).0)
            }
            let (run, tasks, cleared) = try RunText.local(git.state) { _ in
                try queries.rerun(runID, failed: failed, tasks: task, downstream: downstream, dag: spec?.spec)
            }
            result = Response(run: run, tasks: tasks, cleared: cleared)
        }
        print(
            "\(result.run.dag) \(result.run.run): \(result.tasks.joined(separator: ", ")) will run again "
                + "(\(result.cleared) task\(result.cleared == 1 ? "" : "s") had attempts)")
    }
}

enum RunText {
    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// A path segment (run ids hold ':').
    static func path(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
            ?? text
    }

    /// Runs a query on the state directory; its failures become command errors.
    static func local<T>(_ state: String, _ body: (Queries) throws -> T) throws -> T {
        do {
            return try body(Queries(store: try Store(stateDirectory: state), stateDirectory: state))
        } catch let failure as Queries.Failure {
            throw CommandError(failure.description)
        }
    }
}

/// A command failure that is not about its usage: printed as `Error: ...` without the usage text.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
