import ArgumentParser
import Foundation
import ReconcileManifest
import ReconcileModel

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Load and validate manifests; print every problem as file:line:col: error: message.",
        discussion: "Exit status: 0 valid, 1 invalid."
    )

    @Argument(help: "Manifest root directory or a single file.")
    var path: String = "."

    @Option(help: "Output format: text or json.")
    var output: OutputFormat = .text

    func run() throws {
        let files: [ManifestFile]
        let readProblems: [Diagnostic]
        do {
            (files, readProblems) = try ManifestDirectory.read(root: path)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let result = ManifestLoader.load(files, extraDiagnostics: readProblems)
        switch output {
        case .text:
            for diagnostic in result.diagnostics { print(diagnostic) }
            if let state = result.state {
                print(summary(state, files: files.count))
            } else {
                let count = result.diagnostics.filter { $0.severity == .error }.count
                FileHandle.standardError.write(Data("\(count) error\(count == 1 ? "" : "s") in \(path)\n".utf8))
            }
        case .json:
            print(jsonReport(result))
        }
        if result.state == nil { throw ExitCode(1) }
    }

    private func summary(_ state: DesiredState, files: Int) -> String {
        func count(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        let node = state.usesImplicitLocalNode ? " (implicit node local)" : ""
        return "valid: \(count(files, "file")), \(count(state.nodes.count, "node"))\(node), "
            + "\(count(state.apps.count, "app")), \(count(state.dags.count, "DAG")), "
            + "\(count(state.checks.count, "check")), \(count(state.notifiers.count, "notifier"))"
    }

    private func jsonReport(_ result: ManifestLoader.Result) -> String {
        struct Report: Encodable {
            struct Item: Encodable {
                var file: String
                var line: Int
                var column: Int
                var severity: String
                var message: String
            }
            var valid: Bool
            var diagnostics: [Item]
        }
        let report = Report(
            valid: result.state != nil,
            diagnostics: result.diagnostics.map {
                .init(
                    file: $0.location.file, line: $0.location.line, column: $0.location.column,
                    severity: $0.severity.rawValue, message: $0.message)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self)
    }
}
