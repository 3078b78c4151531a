import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileStore

/// `reconcile nodes list|drain|uncordon`: the nodes, and taking one out of service for maintenance.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List nodes; drain one for maintenance and uncordon it afterwards.",
        discussion: """
            A draining node takes no new replicas or tasks. Its replicas are replaced on other nodes within \
            each App's maxSurge and maxUnavailable (each replacement is ready before the replica it replaces \
            stops); tasks running there finish. With --deadline, replicas still there when it passes are \
            stopped without waiting. The drain is kept in --state until `uncordon`.
            """,
        subcommands: [List.self, Drain.self, Uncordon.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Nodes as the controller's last pass saw them.")
        @OptionGroup(title: "Controller") var remote: ControllerOptions
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }

        func run() async throws {
            guard let client = try remote.client() else {
                throw CommandError("nodes list reads a running controller: pass --controller URL (or use status)")
            }
            let nodes = try await client.get("nodes", [NodeView].self)
            switch output {
            case .json: print(try ReportText.json(nodes))
            case .text:
                for node in nodes {
                    let state = !node.reachable ? "unreachable" : (node.draining ?? "schedulable")
                    print("\(node.name)\t\(state)")
                }
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a node out of service: no new work, replicas move elsewhere with readiness kept.")
        @Argument(help: "The node.") var node: String
        @Option(help: "Stop replicas still on the node after this long (e.g. 10m), ready replacements or not.")
        var deadline: String?
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            let view: DrainView
            if let client = try remote.client() {
                view = try await client.post(
                    "nodes/\(RunText.path(node))/drain", DrainRequest(deadline: deadline), DrainView.self)
            } else {
                let store = try Store(stateDirectory: git.state)
                let snapshot = try await git.followedState(store: store)
                view = try RunText.local(git.state) {
                    try $0.drain(node, deadline: deadline, in: snapshot.state, now: Date())
                }
            }
            let until = view.deadline.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? ""
            print("\(view.node): draining\(until); the controller moves its replicas on its next pass")
        }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a drain: the node takes new work again.")
        @Argument(help: "The node.") var node: String
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        struct Empty: Codable {}

        func run() async throws {
            let view: DrainView
            if let client = try remote.client() {
                view = try await client.post("nodes/\(RunText.path(node))/uncordon", Empty(), DrainView.self)
            } else {
                let store = try Store(stateDirectory: git.state)
                let snapshot = try await git.followedState(store: store)
                view = try RunText.local(git.state) { try $0.uncordon(node, in: snapshot.state) }
            }
            print("\(view.node): \(view.state)")
        }
    }
}
