import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileManifest
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

/// `reconcile dags list|next|trigger|backfill`: the DAGs of the repository the controller follows
/// (or `--repo`), with their runs from the state directory.
struct DagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dags",
        abstract: "DAGs: list them, see when they run next, start runs by hand or over past dates.",
        discussion: """
            DAG definitions are read from the repository the controller on --state follows (or --repo); \
            runs are recorded in --state, where the controller starts them on its next tick.
            """,
        subcommands: [List.self, Next.self, Trigger.self, Backfill.self, Pause.self, Unpause.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every DAG with its next run and last run.")
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }

        func run() async throws {
            let dags: [DAGView]
            var commit: String?
            if let client = try remote.client() {
                dags = try await client.get("dags", [DAGView].self)
            } else {
                let store = try Store(stateDirectory: git.state)
                let snapshot = try await git.followedState(store: store)
                commit = snapshot.commit
                dags = try RunText.local(git.state) { try $0.dags(snapshot.state, now: Date()) }
            }
            switch output {
            case .json: print(try ReportText.json(dags))
            case .text: for line in ReportText.dags(dags, commit: commit) { print(line) }
            }
        }
    }

    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The DAG's next scheduled runs: logical date and data interval, in UTC.")
        @Argument(help: "The DAG.") var dag: String
        @Option(help: "How many runs to show (1-1000).") var count: Int = 5
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }
        @OptionGroup(title: "Git") var git: GitOptions

        struct Upcoming: Encodable {
            struct Run: Encodable {
                var logicalDate: String
                var dataIntervalStart: String
                var dataIntervalEnd: String
            }
            var dag: String
            /// False for a DAG without a schedule (it runs when triggered): `runs` is then empty.
            var scheduled: Bool
            var paused: Bool
            var runs: [Run]
        }

        func run() async throws {
            guard (1...1000).contains(count) else { throw ValidationError("--count must be between 1 and 1000") }
            let store = try Store(stateDirectory: git.state)
            let (spec, _) = try await git.dag(dag, store: store)
            if !spec.after.isEmpty {
                let waits = try AfterWaits.of(spec, store: store)
                if output == .json {
                    print(try ReportText.json(waits))
                } else {
                    for line in waits.lines { print(line) }
                }
                return
            }
            guard spec.schedule != nil else {
                if output == .json {
                    print(try ReportText.json(Upcoming(dag: dag, scheduled: false, paused: spec.paused, runs: [])))
                } else {
                    print("\(dag) has no schedule: it runs when triggered (`reconcile dags trigger \(dag)`)")
                }
                return
            }
            if spec.paused, output == .text { print("\(dag) is paused: these runs are created once it is unpaused") }
            let now = Date()
            let first = RunScheduler.schedule(
                dag: spec, cursor: try store.dagCursor(dag), activeRuns: 0, now: now
            ).nextTick
            guard let first else {
                if output == .json {
                    print(try ReportText.json(Upcoming(dag: dag, scheduled: true, paused: spec.paused, runs: [])))
                } else {
                    print("\(dag): no future tick")
                }
                return
            }
            let runs =
                RunScheduler.backfill(dag: spec, from: first, to: .distantFuture, limit: count + 1)?.prefix(count)
                ?? RunScheduler.backfill(
                    dag: spec, from: first, to: first.addingTimeInterval(400 * 86_400 * Double(count)), limit: 100_000)?
                .prefix(count) ?? []
            if output == .json {
                let upcoming = runs.map {
                    Upcoming.Run(
                        logicalDate: RunText.time($0.logicalDate),
                        dataIntervalStart: RunText.time($0.dataIntervalStart),
                        dataIntervalEnd: RunText.time($0.dataIntervalEnd))
                }
                print(try ReportText.json(Upcoming(dag: dag, scheduled: true, paused: spec.paused, runs: upcoming)))
                return
            }
            for run in runs {
                print(
                    "\(RunText.time(run.logicalDate))  data interval \(RunText.time(run.dataIntervalStart)) .. "
                        + RunText.time(run.dataIntervalEnd))
            }
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run of the DAG now (it counts toward maxActiveRuns).")
        @Argument(help: "The DAG.") var dag: String
        @Option(
            name: .customLong("param"),
            help: "A param of the DAG as NAME=VALUE (repeat for several); the others take their defaults.")
        var params: [String] = []
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            let values = try ParamArguments.parse(params)
            let run: RunView
            if let client = try remote.client() {
                run = try await client.post(
                    "dags/\(RunText.path(dag))/trigger", TriggerRequest(params: values), RunView.self)
            } else {
                let store = try Store(stateDirectory: git.state)
                let snapshot = try await git.followedState(store: store)
                run = try RunText.local(git.state) {
                    try $0.trigger(dag, params: values, in: snapshot.state, commit: snapshot.commit, now: Date())
                }
            }
            switch output {
            case .json: print(try ReportText.json(run))
            case .text:
                let shown = run.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print(
                    "\(run.dag) \(run.run): triggered\(shown.isEmpty ? "" : " with \(shown)"); "
                        + "the controller starts it on its next tick")
            }
        }
    }

    struct Backfill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a run for every tick of the DAG's schedule between two dates.",
            discussion: """
                One run per tick in --from ... --to (both included, RFC 3339), oldest first, each with \
                the data interval from the tick before it. Ticks that already have a run are skipped. \
                The controller runs them at most maxActiveRuns at a time, oldest first.
                """)
        @Argument(help: "The DAG.") var dag: String
        @Option(help: "First logical date, e.g. 2026-01-01T00:00:00Z.") var from: String
        @Option(help: "Last logical date (not in the future).") var to: String
        @Option(
            name: .customLong("param"),
            help:
                "A param of the DAG as NAME=VALUE for every run created (repeat for several); the others take their defaults."
        )
        var params: [String] = []
        @OptionGroup(title: "Git") var git: GitOptions

        func run() async throws {
            let given = try ParamArguments.parse(params)
            let start: Date
            let end: Date
            do {
                start = Date(timeIntervalSince1970: try Timestamp.parse(from))
                end = Date(timeIntervalSince1970: try Timestamp.parse(to))
            } catch {
                throw ValidationError("--from and --to are RFC 3339 instants: \(error.message)")
            }
            guard start <= end else { throw ValidationError("--from is after --to") }
            let now = Date()
            guard end <= now else {
                throw ValidationError("--to is in the future; future ticks run on the schedule")
            }
            let store = try Store(stateDirectory: git.state)
            let (spec, commit) = try await git.dag(dag, store: store)
            guard spec.schedule != nil else {
                throw CommandError(
                    "\(dag) has no schedule to backfill; start runs with `reconcile dags trigger \(dag)`")
            }
            let values: [String: String]
            do {
                values = try spec.resolveParams(given)
            } catch {
                throw CommandError(error.message)
            }
            guard let runs = RunScheduler.backfill(dag: spec, from: start, to: end) else {
                throw CommandError("more than 10000 ticks between --from and --to; backfill a shorter range")
            }
            let taken = Set(try store.runs(dag: dag, limit: 1_000_000).map(\.logicalDate))
            var created = 0
            for run in runs where !taken.contains(run.logicalDate) {
                let record = RunRecord(
                    dag: dag, runID: run.runID, logicalDate: run.logicalDate,
                    dataIntervalStart: run.dataIntervalStart, dataIntervalEnd: run.dataIntervalEnd, commitID: commit,
                    createdAt: now, params: values)
                if try store.addRun(record) {
                    created += 1
                    print("\(dag) \(run.runID): created")
                }
            }
            print(
                "\(dag): \(created) run\(created == 1 ? "" : "s") created, \(runs.count - created) tick"
                    + "\(runs.count - created == 1 ? "" : "s") already had a run")
        }
    }
}

/// `--param NAME=VALUE` options as a map (each name once).
enum ParamArguments {
    static func parse(_ items: [String]) throws -> [String: String] {
        var values: [String: String] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw ValidationError("--param takes NAME=VALUE, found \"\(item)\"")
            }
            let name = String(item[..<equals])
            guard values[name] == nil else { throw ValidationError("--param \(name) is given twice") }
            values[name] = String(item[item.index(after: equals)...])
        }
        return values
    }
}

/// What a DAG that runs after others waits for: per recent data interval of its upstream DAGs,
/// which have succeeded and whether its own run for it exists.
struct AfterWaits: Encodable {
    struct Interval: Encodable {
        var dataIntervalStart: String
        var dataIntervalEnd: String
        var succeeded: [String]
        var missing: [String]
        /// Its own run for the interval, when one was created.
        var run: String?
    }
    var dag: String
    var after: [String]
    var paused: Bool
    var intervals: [Interval]

    static func of(_ spec: DAGSpec, store: Store) throws -> AfterWaits {
        var byEnd: [Date: (start: Date, dags: Set<String>)] = [:]
        for upstream in spec.after {
            for run in try store.runs(dag: upstream, state: .succeeded, limit: 20) {
                byEnd[run.dataIntervalEnd, default: (run.dataIntervalStart, [])].dags.insert(upstream)
            }
        }
        let ends = byEnd.keys.sorted(by: >).prefix(5)
        let ids = ends.map { RunScheduler.afterRunID(intervalEnd: $0) }
        let existing = try store.existingRunIDs(dag: spec.name, among: ids)
        let intervals = ends.map { end in
            let entry = byEnd[end]!
            let id = RunScheduler.afterRunID(intervalEnd: end)
            return Interval(
                dataIntervalStart: RunText.time(entry.start), dataIntervalEnd: RunText.time(end),
                succeeded: spec.after.filter(entry.dags.contains),
                missing: spec.after.filter { !entry.dags.contains($0) },
                run: existing.contains(id) ? id : nil)
        }
        let paused = try spec.paused || store.pausedDAGs()[spec.name] != nil
        return AfterWaits(dag: spec.name, after: spec.after, paused: paused, intervals: intervals)
    }

    var lines: [String] {
        var lines = [
            "\(dag) runs after \(after.joined(separator: ", ")): a run starts for a data interval once every one of "
                + "them has a succeeded run for that same interval\(paused ? " (paused now)" : "")"
        ]
        if intervals.isEmpty { lines.append("  no upstream run has succeeded yet") }
        for interval in intervals {
            let state =
                interval.run.map { "run \($0) created" }
                ?? (interval.missing.isEmpty
                    ? "complete; its run starts at the controller's next step (if it completed after \(dag) was first seen)"
                    : "waits for \(interval.missing.joined(separator: ", "))")
            lines.append("  \(interval.dataIntervalStart) .. \(interval.dataIntervalEnd): \(state)")
        }
        return lines
    }
}

/// `reconcile dags pause|unpause DAG`: kept in the state directory (or by the controller), beside
/// the git field `paused:`; either one pauses.
struct PauseToggle {
    static func run(
        _ dag: String, paused: Bool, git: GitOptions, remote: ControllerOptions, output: OutputFormat
    )
        async throws
    {
        let response: PauseResponse
        if let client = try remote.client() {
            response = try await client.post(
                "dags/\(RunText.path(dag))/\(paused ? "pause" : "unpause")", TriggerRequest(), PauseResponse.self)
        } else {
            let store = try Store(stateDirectory: git.state)
            let snapshot = try await git.followedState(store: store)
            let message = try RunText.local(git.state) {
                try $0.setPaused(dag, paused, in: snapshot.state, commit: snapshot.commit, now: Date())
            }
            response = PauseResponse(dag: dag, paused: paused, message: message)
        }
        switch output {
        case .json: print(try ReportText.json(response))
        case .text: print(response.message)
        }
    }
}

extension DagsCommand {
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause the DAG: no scheduled run starts (runs under way go on) until it is unpaused.")
        @Argument(help: "The DAG.") var dag: String
        @OptionGroup var format: OutputOptions
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            try await PauseToggle.run(dag, paused: true, git: git, remote: remote, output: format.output)
        }
    }

    struct Unpause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unpause the DAG: missed runs follow its catchup rule (the git field paused: still applies).")
        @Argument(help: "The DAG.") var dag: String
        @OptionGroup var format: OutputOptions
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            try await PauseToggle.run(dag, paused: false, git: git, remote: remote, output: format.output)
        }
    }
}

/// Left-aligned columns two spaces apart.
enum Columns {
    static func format(_ rows: [[String]]) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        let widths = (0..<width).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
