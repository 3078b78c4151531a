import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileRuntime
import ReconcileStore

/// `reconcile status`: what is healthy and what is not, on one screen.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Apps, nodes, DAGs, checks and open incidents at a glance.",
        discussion: """
            From a running controller (--controller URL) it shows what its last pass saw; from the state \
            directory it observes the nodes once itself. Colour on a terminal, plain when piped.
            """)

    @OptionGroup(title: "Git") var git: GitOptions
    @OptionGroup(title: "Controller") var remote: ControllerOptions
    @OptionGroup var format: OutputOptions
    var output: OutputFormat { format.output }

    func run() async throws {
        let view: StatusView
        if let client = try remote.client() {
            view = try await client.get("status", StatusView.self)
        } else {
            let store = try Store(stateDirectory: git.state)
            let snapshot = try await git.followedState(store: store)
            // The drains the controller follows (`reconcile nodes drain`), kept in the state directory.
            var state = snapshot.state
            state.nodes = try ClusterNodes.withDrains(state.nodes, store: store)
            let (pass, _) = try await Pass.forState(state, stateDirectory: git.state)
            let observation = await Observer(drivers: pass.drivers, nodes: pass.nodes).observe(
                desired: snapshot.state, now: Date())
            let (apps, nodes) = StatusViews.make(
                state: snapshot.state, observed: observation.observed, specs: pass.nodes)
            view = StatusView(
                commit: snapshot.commit, apps: apps, nodes: nodes,
                dags: try RunText.local(git.state) { try $0.dags(snapshot.state, now: Date()) },
                alerts: try RunText.local(git.state) { try $0.alerts(now: Date()) })
        }
        switch output {
        case .json: print(try ReportText.json(view))
        case .text:
            for line in ReportText.status(view, color: isatty(STDOUT_FILENO) == 1) { print(line) }
        }
    }
}
