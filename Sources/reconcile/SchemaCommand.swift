import ArgumentParser
import ReconcileManifest

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of the manifest format (for editors' YAML language servers)."
    )

    func run() {
        print(ManifestSchema.jsonSchema())
    }
}
