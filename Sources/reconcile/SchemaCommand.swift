import ArgumentParser
import ReconcileManifest

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of the manifest format (for editors' YAML language servers), or of the plan."
    )

    @Flag(help: "Print the JSON Schema of the plan (--output json) instead.")
    var plan = false

    func run() {
        print(plan ? PlanDocument.schema : ManifestSchema.jsonSchema())
    }
}
