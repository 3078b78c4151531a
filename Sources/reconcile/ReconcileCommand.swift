import ArgumentParser
import Foundation
import ReconcileBuildInfo
import ReconcileGit
import ReconcileManifest
import ReconcileModel
import ReconcileRuntime
import ReconcileStore

@main
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "A declarative GitOps reconciler for apps, DAGs of batch jobs, checks and alerts.",
        discussion: """
            Manifests are YAML files in a git repository; see manifests/ for every field.

            Without a subcommand: one pass (observe, plan, apply), or with --dry-run print the plan.

            `reconcile --dry-run --against REF` prints what a commit changes relative to REF, offline \
            (exit 0 no changes, 2 changes pending, 1 error) - what CI runs on a pull request.
            """,
        version: ReconcileVersion.display,
        subcommands: [
            ControllerCommand.self, ValidateCommand.self, ScheduleCommand.self, SchemaCommand.self, DagsCommand.self,
            RunsCommand.self, RerunCommand.self, LogsCommand.self, AlertsCommand.self, StatusCommand.self,
            ExplainCommand.self, NodesCommand.self,
        ]
    )

    @Flag(help: "Print the plan instead of applying it.")
    var dryRun = false

    @Option(help: "Plan offline from this ref's desired state to --ref's (no cluster access).")
    var against: String?

    @OptionGroup var format: OutputOptions

    var output: OutputFormat { format.output }

    @OptionGroup(title: "Git")
    var git: GitOptions

    func run() async throws {
        let repository = git.repo ?? "."
        guard let new = try await load(repository, options: git) else { throw ExitCode(1) }
        if let against {
            guard dryRun else {
                FileHandle.standardError.write(Data("error: --against plans offline and needs --dry-run\n".utf8))
                throw ExitCode(1)
            }
            var baseOptions = git
            baseOptions.ref = against
            guard let old = try await load(repository, options: baseOptions) else { throw ExitCode(1) }
            let plan = OfflinePlan.make(from: old.state, to: new.state, now: Date())
            switch output {
            case .text:
                print("plan: \(old.commit.prefix(12)) (\(against)) -> \(new.commit.prefix(12)) (\(git.ref))")
                for line in plan.lines { print(line) }
            case .json:
                let document = PlanDocument(
                    mode: "offline",
                    commits: .init(
                        from: .init(commit: old.commit, ref: against), to: .init(commit: new.commit, ref: git.ref)),
                    plan: plan.plan, lines: plan.lines, changed: plan.changed, old: old.state, new: new.state,
                    unchanged: plan.unchanged)
                print(document.json())
            }
            throw ExitCode(plan.changed ? 2 : 0)
        }
        // One pass against the cluster: observe, plan, and apply unless --dry-run.
        try StateDirectory.secure(git.state)
        let store = try Store(stateDirectory: git.state)
        // Drains asked for with `reconcile nodes drain` hold for a one-shot pass too.
        var drained = new.state
        drained.nodes = try ClusterNodes.withDrains(new.state.nodes, store: store)
        let (pass, note) = try await Pass.forState(drained, stateDirectory: git.state)
        if let note, output == .text { print(note) }
        let reconciler = Reconciler(pass: pass, store: store)
        let result = try await reconciler.run(desired: new.state, revision: new.commit, dryRun: dryRun, now: Date())
        let unreachable = result.observed.nodes.filter { $0.unreachableSince != nil }.map {
            "! node \($0.name): unreachable"
        }
        let (lines, changed) = PlanText.lines(result.plan)
        switch output {
        case .text:
            for line in unreachable { print(line) }
            print("plan: commit \(new.commit.prefix(12)) (\(git.ref))\(dryRun ? " (dry run)" : "")")
            for line in lines { print(line) }
            print("= \(result.plan.unchanged.count) app\(result.plan.unchanged.count == 1 ? "" : "s") unchanged")
        case .json:
            let document = PlanDocument(
                mode: "cluster", commits: .init(to: .init(commit: new.commit, ref: git.ref)), plan: result.plan,
                lines: unreachable + lines, changed: dryRun && changed, old: nil, new: new.state,
                unchanged: result.plan.unchanged.count)
            print(document.json())
        }
        for failure in result.failures {
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
        }
        if !result.failures.isEmpty { throw ExitCode(1) }
        if dryRun && changed { throw ExitCode(2) }
    }

    /// The desired state at `options.ref`, or nil after printing why it cannot be had.
    private func load(_ repository: String, options: GitOptions) async throws -> GitManifestSource.Snapshot? {
        let source: GitManifestSource
        do {
            source = try options.manifestSource(repository: repository)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            return nil
        }
        switch await source.poll() {
        case .applied(let snapshot):
            return snapshot
        case .invalid(let commit, let diagnostics, _):
            for diagnostic in diagnostics { print(diagnostic) }
            FileHandle.standardError.write(
                Data("commit \(commit.prefix(12)) (\(options.ref)) is invalid; no plan\n".utf8))
            return nil
        case .failed(let error, _):
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return nil
        case .unchanged(_, let snapshot):
            return snapshot
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// `--output text|json`, one group shared by the root command (the plan) and every data command:
/// ArgumentParser gives a parent's option to the parent when a subcommand declares one of the same
/// name, unless both declare it through the same group (swift-argument-parser#169).
struct OutputOptions: ParsableArguments {
    @Option(
        help: "Output format: text, or json (documented fields; the plan's schema: reconcile schema --plan).")
    var output: OutputFormat = .text
}
