import ArgumentParser
import Foundation
import ReconcileModel
import ReconcileStore

/// `reconcile alerts list` and `reconcile alerts silence NAME --for 2h`.
struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Open incidents, check states and notifications; silences.",
        subcommands: [List.self, Silence.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open incidents, every check's state, and notifications not yet delivered.")
        // The state directory comes with the git options (`--state`), as for every command.
        @OptionGroup(title: "Git") var git: GitOptions

        func run() throws {
            let store = try Store(stateDirectory: git.state)
            let incidents = try store.incidents()
            let silences = try store.silences()
            print(incidents.isEmpty ? "no open incident" : "open incidents:")
            for incident in incidents {
                let silenced = silences[incident.key].flatMap {
                    $0 > Date() ? " (silenced until \(RunText.time($0)))" : nil
                }
                print("  \(incident.key) since \(RunText.time(incident.openedAt))\(silenced ?? "")")
                print("    \(incident.summary.replacingOccurrences(of: "\n", with: "\n    "))")
            }
            let checks = try store.checkStates().sorted { $0.key < $1.key }
            if !checks.isEmpty { print("checks:") }
            for (name, state) in checks {
                let run = state.lastRun.map { " (\(RunText.time($0)))" } ?? ""
                print("  \(name): \(state.failing ? "failing" : "passing")\(run): \(state.message)")
            }
            let waiting = try store.outbox(limit: 1000).filter { $0.sentAt == nil }
            if !waiting.isEmpty { print("notifications not delivered:") }
            for entry in waiting {
                let state = entry.failedAt != nil ? "given up" : "retrying at \(RunText.time(entry.nextAttemptAt))"
                print(
                    "  \(entry.notice.kind.rawValue) \(entry.notice.key) to \(entry.notice.notifier): \(state) after "
                        + "\(entry.attempts) attempt\(entry.attempts == 1 ? "" : "s")\(entry.lastError.map { ": \($0)" } ?? "")"
                )
            }
        }
    }

    struct Silence: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mute an incident's notifications for a while.",
            discussion: """
                NAME is an incident key as `alerts list` shows it (check/NAME, dag/NAME, rollout/APP,
                node/NAME, commit) or a check's name. When the silence ends while it still fails, it
                notifies at once.
                """)
        @Argument(help: "The incident key or check name.") var name: String
        @Option(name: .customLong("for"), help: "How long, e.g. 30m or 2h.") var duration: String
        @OptionGroup(title: "Git") var git: GitOptions

        func run() throws {
            let span: Timespan
            do {
                span = try Timespan(parsing: duration)
            } catch {
                throw ValidationError("--for: \(error.message)")
            }
            let key = name.contains("/") || name == "commit" ? name : "check/\(name)"
            let until = Date().addingTimeInterval(span.seconds)
            try Store(stateDirectory: git.state).silence(key, until: until)
            print("\(key): silenced until \(RunText.time(until))")
        }
    }
}
