import ArgumentParser
import Foundation
import ReconcileStore

/// `reconcile dags trigger DAG`: a manual run, started by the controller on its next tick.
struct DagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dags", abstract: "DAG operations.", subcommands: [Trigger.self])

    struct Trigger: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run of the DAG now (it counts toward maxActiveRuns).")
        @Argument(help: "The DAG.") var dag: String
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        var state: String { git.state }

        func run() throws {
            let now = Date()
            let runID = "manual__" + RunText.time(now)
            try Store(stateDirectory: state).addRun(
                RunRecord(
                    dag: dag, runID: runID, logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                    commitID: "manual", createdAt: now))
            print("\(dag) \(runID): triggered; the controller starts it on its next tick")
        }
    }
}
