import ArgumentParser
import Foundation
import ReconcileGit
import ReconcileManifest
import ReconcileModel

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Load and validate manifests; print every problem as file:line:col: error: message.",
        discussion: """
            Reads a folder (PATH), or a commit of a git repository (--repo, --ref, --path).

            Exit status: 0 valid, 1 invalid or unreadable.
            """
    )

    @Argument(help: "Manifest root directory or a single file (without --repo).")
    var path: String?

    @OptionGroup(title: "Git")
    var git: GitOptions

    @OptionGroup var format: OutputOptions

    var output: OutputFormat { format.output }

    func validate() throws {
        if git.repo != nil && path != nil {
            throw ValidationError("give either a PATH or --repo (with --path for a folder inside it), not both")
        }
    }

    func run() async throws {
        if let repository = git.repo {
            try await validateRepository(repository)
            return
        }
        let root = path ?? "."
        let files: [ManifestFile]
        let readProblems: [Diagnostic]
        do {
            (files, readProblems) = try ManifestDirectory.read(root: root)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var repository = ManifestDirectory.repository(root: root)
        repository.stateDirectory = URL(fileURLWithPath: git.state).standardizedFileURL.path
        report(
            ManifestLoader.load(files, repository: repository, extraDiagnostics: readProblems),
            files: files.count, source: root, commit: nil)
    }

    private func validateRepository(_ repository: String) async throws {
        let source: GitManifestSource
        do {
            source = try git.manifestSource(repository: repository)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let name = await source.source.displayRemote
        switch await source.poll() {
        case .applied(let snapshot):
            let result = ManifestLoader.Result(state: snapshot.state, diagnostics: snapshot.diagnostics)
            report(result, files: nil, source: name, commit: snapshot.commit)
        case .invalid(let commit, let diagnostics, _):
            report(
                ManifestLoader.Result(state: nil, diagnostics: diagnostics), files: nil, source: name, commit: commit)
        case .unchanged(let commit, let snapshot):
            // A fresh source never reports unchanged; handle it for completeness.
            if let snapshot {
                let result = ManifestLoader.Result(state: snapshot.state, diagnostics: snapshot.diagnostics)
                report(result, files: nil, source: name, commit: commit)
            }
        case .failed(let error, _):
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Prints the diagnostics and a summary; exits 1 when invalid.
    private func report(_ result: ManifestLoader.Result, files: Int?, source: String, commit: String?) {
        let at = commit.map { " at \(git.ref) = \($0.prefix(12))" } ?? ""
        switch output {
        case .text:
            for diagnostic in result.diagnostics { print(diagnostic) }
            if let state = result.state {
                print(summary(state, files: files) + (commit.map { ", commit \($0.prefix(12)) (\(git.ref))" } ?? ""))
            } else {
                let count = result.diagnostics.filter { $0.severity == .error }.count
                FileHandle.standardError.write(Data("\(count) error\(count == 1 ? "" : "s") in \(source)\(at)\n".utf8))
            }
        case .json:
            print(jsonReport(result, commit: commit))
        }
        if result.state == nil { Foundation.exit(1) }
    }

    private func summary(_ state: DesiredState, files: Int?) -> String {
        func count(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        let node = state.usesImplicitLocalNode ? " (implicit node local)" : ""
        let fileCount = files.map { "\(count($0, "file")), " } ?? ""
        return "valid: \(fileCount)\(count(state.nodes.count, "node"))\(node), "
            + "\(count(state.apps.count, "app")), \(count(state.dags.count, "DAG")), "
            + "\(count(state.checks.count, "check")), \(count(state.notifiers.count, "notifier"))"
            + (state.registries.isEmpty
                ? "" : ", \(state.registries.count) \(state.registries.count == 1 ? "registry" : "registries")")
            + (state.volumes.isEmpty ? "" : ", \(count(state.volumes.count, "volume"))")
            + (state.silences.isEmpty ? "" : ", \(count(state.silences.count, "silence"))")
            + (state.pools.isEmpty ? "" : ", \(count(state.pools.count, "pool"))")
    }

    private func jsonReport(_ result: ManifestLoader.Result, commit: String?) -> String {
        struct Report: Encodable {
            struct Item: Encodable {
                var file: String
                var line: Int
                var column: Int
                var severity: String
                var message: String
            }
            var valid: Bool
            var commit: String?
            var diagnostics: [Item]
        }
        let report = Report(
            valid: result.state != nil, commit: commit,
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
