import ArgumentParser

@main
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "A declarative GitOps reconciler for apps, DAGs of batch jobs, checks and alerts.",
        discussion: "Manifests are YAML files in a git repository; see manifests/ for every field.",
        subcommands: [ValidateCommand.self, ScheduleCommand.self, SchemaCommand.self]
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}
