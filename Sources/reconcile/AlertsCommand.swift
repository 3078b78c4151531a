import ArgumentParser
import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcileStore

/// `reconcile alerts list` and `reconcile alerts silence NAME --for 2h`.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Open incidents, check states and notifications; silences.",
        subcommands: [List.self, Silence.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open incidents, every check's state, and notifications not yet delivered.")
        @OptionGroup var format: OutputOptions
        var output: OutputFormat { format.output }
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        func run() async throws {
            let view: AlertsView
            if let client = try remote.client() {
                view = try await client.get("alerts", AlertsView.self)
            } else {
                view = try RunText.local(git.state) { try $0.alerts(now: Date()) }
            }
            switch output {
            case .json: print(try ReportText.json(view))
            case .text: for line in ReportText.alerts(view) { print(line) }
            }
        }
    }

    struct Silence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mute an incident's notifications for a while.",
            discussion: """
                NAME is an incident key as `alerts list` shows it (check/NAME, dag/NAME, rollout/APP, \
                node/NAME, commit) or a check's name. When the silence ends while it still fails, it \
                notifies at once.
                """)
        @Argument(help: "The incident key or check name.") var name: String
        @Option(name: .customLong("for"), help: "How long, e.g. 30m or 2h.") var duration: String
        @OptionGroup(title: "Git") var git: GitOptions
        @OptionGroup(title: "Controller") var remote: ControllerOptions

        struct Request: Codable {
            var name: String
            var duration: String
        }

        struct Response: Codable {
            var key: String
            var until: Date
        }

        func run() async throws {
            let span: Timespan
            do {
                span = try Timespan(parsing: duration)
            } catch {
                throw ValidationError("--for: \(error.message)")
            }
            let result: Response
            if let client = try remote.client() {
                result = try await client.post("silences", Request(name: name, duration: duration), Response.self)
            } else {
                let (key, until) = try RunText.local(git.state) { try $0.silence(name, for: span, now: Date()) }
                result = Response(key: key, until: until)
            }
            print("\(result.key): silenced until \(RunText.time(result.until))")
        }
    }
}
