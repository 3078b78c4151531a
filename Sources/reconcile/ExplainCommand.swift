import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileStore

/// `reconcile explain app/NAME | task DAG/RUN/TASK | incident KEY`: why a replica is where it is, why
/// a task is not running, why an alert fired (like `kubectl describe`).
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Why: an App's replicas and plan, a task's state, an incident's notices.",
        discussion: """
            `explain app/NAME`: each replica's node and why (its score, every other node's reason), and what \
            the planner does now.

            `explain task DAG/RUN/TASK`: its state and the single reason it is not running.

            `explain incident KEY`: its condition, settle time and every notice's state.

            `app/` needs a running controller (--controller URL): it reads what the controller observed and \
            planned on its last pass. Tasks and incidents read the state directory (--state) or a controller.
            """)

    @Argument(help: "app/NAME, task, or incident") var kind: String
    @Argument(help: "DAG/RUN/TASK for a task, the key for an incident.") var name: String?
    @OptionGroup(title: "Git") var git: GitOptions
    @OptionGroup(title: "Controller") var remote: ControllerOptions
    @OptionGroup var format: OutputOptions
    var output: OutputFormat { format.output }

    func run() async throws {
        let client = try remote.client()
        if kind.hasPrefix("app/") || kind == "app" {
            let app = kind == "app" ? name : String(kind.dropFirst(4))
            guard let app, !app.isEmpty else { throw ValidationError("name the App: reconcile explain app/NAME") }
            guard let client else {
                throw ValidationError(
                    "explain app reads the controller's last pass: add --controller URL (and its token)")
            }
            let view = try await client.get("explain" + ControllerClient.query(["app": app]), AppExplanation.self)
            try print(view, ReportText.explain)
            return
        }
        guard let name else { throw ValidationError("say which \(kind): reconcile explain \(kind) NAME") }
        switch kind {
        case "task":
            let view =
                if let client {
                    try await client.get("explain" + ControllerClient.query(["task": name]), TaskExplanation.self)
                } else {
                    try RunText.local(git.state) { try $0.explainTask(name) }
                }
            try print(view, ReportText.explain)
        case "incident":
            let view =
                if let client {
                    try await client.get(
                        "explain" + ControllerClient.query(["incident": name]), IncidentExplanation.self)
                } else {
                    try RunText.local(git.state) { try $0.explainIncident(name, now: Date()) }
                }
            try print(view, ReportText.explain)
        default:
            throw ValidationError("explain what? app/NAME, task DAG/RUN/TASK or incident KEY (got \(kind))")
        }
    }

    private func print<T: Encodable>(_ view: T, _ text: (T) -> [String]) throws {
        switch output {
        case .json: Swift.print(try ReportText.json(view))
        case .text: for line in text(view) { Swift.print(line) }
        }
    }
}
