import Foundation
import ReconcileManifest
import ReconcileModel
import Testing

@Suite struct ManifestLoaderTests {
    func load(_ files: [String: String]) -> ManifestLoader.Result {
        ManifestLoader.load(files.map { ManifestFile(path: $0.key, contents: $0.value) }.sorted { $0.path < $1.path })
    }

    func loadDirectory(_ path: String) throws -> ManifestLoader.Result {
        let (files, problems) = try ManifestDirectory.read(
            root: TestPaths.packageRoot.appendingPathComponent(path).path)
        return ManifestLoader.load(files, extraDiagnostics: problems)
    }

    @Test func datalabExampleIsValidAndComplete() throws {
        let result = try loadDirectory("examples/datalab")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let state = try #require(result.state)
        #expect(state.apps.map(\.name).sorted() == ["event-collector", "status-page"])
        #expect(state.checks.count == 2)
        #expect(state.notifiers.count == 2)
        let dag = try #require(state.dags.first { $0.name == "marketing-etl" })
        #expect(dag.tasks.map(\.name) == ["extract-salesforce", "extract-marketo", "enrich", "load-warehouse"])
        let enrich = try #require(dag.tasks.first { $0.name == "enrich" })
        // defaults are merged into every task
        #expect(enrich.retries == 2)
        #expect(enrich.retryBackoff == .exponential)
        #expect(enrich.timeout == .minutes(10))
        #expect(enrich.resources.memory.bytes == 128 << 20)
        #expect(enrich.after == ["extract-salesforce", "extract-marketo"])
        #expect(dag.timezone == "America/Vancouver")
        #expect(dag.schedule?.expression == "0 3 * * *")
        #expect(state.locations[ResourceID(.dag, "marketing-etl")]?.file == "marketing-etl.yaml")
    }

    @Test func referenceManifestsAreValid() throws {
        let result = try loadDirectory("manifests")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let state = try #require(result.state)
        #expect(state.nodes.count == 3)
        let app = try #require(state.apps.first { $0.name == "event-collector" })
        #expect(app.secretEnv["API_TOKEN"] == .environment("COLLECTOR_TOKEN"))
        #expect(app.health?.probe == .http(port: "http", path: "/healthz", expect: 200))
        #expect(app.update.minReadyTime == .seconds(10))
        let dag = try #require(state.dags.first { $0.name == "marketing-etl" })
        let load = try #require(dag.tasks.first { $0.name == "load-warehouse" })
        #expect(load.retries == 5)  // the task's own value wins over defaults
        #expect(load.env["WAREHOUSE"] == "analytics")
        let marketo = try #require(dag.tasks.first { $0.name == "extract-marketo" })
        #expect(marketo.secretEnv["MARKETO_TOKEN"] == .file("/etc/reconcile/marketo-token"))
    }

    @Test func reportsAllProblemsOfARepositoryInOnePassSortedByFileAndLine() {
        let result = load([
            "b.yaml": "kind: App\nname: web\ncommand: [a]\nreplicas: many\nimgae: x\n",
            "a.yaml": "kind: Check\nname: c\ntcp: { host: h, port: 99999 }\n---\nkind: DAG\nname: d\ntasks: {}\n",
            "c.yaml": "kind: App\nname: web\ncommand: [a]\n",
        ])
        #expect(result.state == nil)
        let lines = result.diagnostics.map { "\($0.location)" }
        #expect(lines == ["a.yaml:3:23", "a.yaml:7:8", "b.yaml:4:11", "b.yaml:5:1", "c.yaml:2:7"])
    }

    @Test func resultDoesNotDependOnFileOrder() {
        var files: [ManifestFile] = []
        for index in 0..<60 {
            files.append(
                ManifestFile(
                    path: String(format: "f%02d.yaml", index),
                    contents:
                        "kind: App\nname: app-\(index % 40)\ncommand: [a]\nreplicas: \(index % 7 == 0 ? "x" : "1")\n"))
        }
        let forward = ManifestLoader.load(files).diagnostics
        let backward = ManifestLoader.load(files.reversed()).diagnostics
        #expect(!forward.isEmpty)
        #expect(forward == backward)
    }

    @Test func emptyDocumentsAndMergeKeysAreAccepted() throws {
        let result = load([
            "a.yaml": """
            ---
            ---
            kind: Notifier
            name: chat
            webhook: &hook { url: env:HOOK, format: slack }
            ---
            kind: Notifier
            name: chat-2
            webhook:
              <<: *hook
              format: json
            ---

            """
        ])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let state = try #require(result.state)
        #expect(
            state.notifiers.map(\.channel) == [
                .webhook(url: .secret(.environment("HOOK")), format: .slack),
                .webhook(url: .secret(.environment("HOOK")), format: .json),
            ])
    }

    @Test func implicitLocalNodeWhenNoNodeIsDeclared() throws {
        let state = try #require(load(["a.yaml": "kind: App\nname: web\nimage: web:1\n"]).state)
        #expect(state.usesImplicitLocalNode)
    }

    @Test func symbolicLinksAreRejectedNotFollowed() throws {
        let directory = try TestPaths.temporaryDirectory("symlink")
        defer { try? FileManager.default.removeItem(at: directory) }
        let outside = directory.appendingPathComponent("outside.txt")
        try "kind: App\nname: web\ncommand: [a]\n".write(to: outside, atomically: true, encoding: .utf8)
        let root = directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("app.yaml"), withDestinationURL: outside)
        let (files, problems) = try ManifestDirectory.read(root: root.path)
        #expect(files.isEmpty)
        #expect(
            problems.map(\.description) == [
                "app.yaml:1:1: error: symbolic links are not followed; replace the link with the file itself"
            ])
    }

    @Test func dotFilesAndOtherExtensionsAreSkipped() throws {
        let root = try TestPaths.temporaryDirectory("skip")
        defer { try? FileManager.default.removeItem(at: root) }
        let broken = "kind: Nope\n"
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(".hidden"), withIntermediateDirectories: true)
        try broken.write(to: root.appendingPathComponent(".hidden/x.yaml"), atomically: true, encoding: .utf8)
        try broken.write(to: root.appendingPathComponent(".x.yaml"), atomically: true, encoding: .utf8)
        try broken.write(to: root.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("z/y"), withIntermediateDirectories: true)
        try "kind: App\nname: web\ncommand: [a]\n".write(
            to: root.appendingPathComponent("z/y/app.yml"), atomically: true, encoding: .utf8)
        let (files, problems) = try ManifestDirectory.read(root: root.path)
        #expect(problems.isEmpty)
        #expect(files.map(\.path) == ["z/y/app.yml"])
    }

    @Test func invalidUTF8IsReported() throws {
        let root = try TestPaths.temporaryDirectory("utf8")
        defer { try? FileManager.default.removeItem(at: root) }
        try Data([0x6B, 0x69, 0x6E, 0x64, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(
            to: root.appendingPathComponent("a.yaml"))
        let (files, problems) = try ManifestDirectory.read(root: root.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.description) == ["a.yaml:1:1: error: file is not valid UTF-8; save it as UTF-8 text"])
    }

    @Test func missingRootIsAnError() {
        #expect(throws: ManifestDirectory.ReadError.self) {
            try ManifestDirectory.read(root: "/nonexistent/reconcile-\(UUID().uuidString)")
        }
    }

    /// A hostile input and what loading it must come to: the first diagnostic (nil: valid).
    struct Hostile: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var first: String?
        var testDescription: String { name }
    }

    static let hostile: [Hostile] = [
        Hostile(
            name: "5000 nested flow sequences", text: String(repeating: "[", count: 5000),
            first: "a.yaml:1:1: error: invalid YAML: Maximum nesting level reached"),
        Hostile(
            name: "3000 nested block sequences", text: String(repeating: "- ", count: 3000) + "x",
            first: "a.yaml:1:1999: error: invalid YAML: Maximum nesting level reached"),
        Hostile(
            name: "alias expansion bomb (8^5 items)",
            text:
                "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nkind: App\nname: x\ncommand: *e\n",
            first: #"a.yaml:1:1: error: unknown key "a" in App"#),
        Hostile(
            name: "undefined alias", text: "kind: App\nname: x\ncommand: [a]\nenv: *missing\n",
            first: "a.yaml:4:6: error: invalid YAML: found undefined alias"),
        Hostile(
            name: "a 2000-task cycle",
            text: "kind: DAG\nname: d\ntasks:\n"
                + (0..<2000).map { "  t\($0): { command: [x], after: [t\(($0 + 1) % 2000)] }\n" }.joined(),
            first: "a.yaml:4:3: error: tasks form a cycle: t0 -> t1999 -> t1998"),
        Hostile(name: "a byte order mark", text: "\u{FEFF}kind: App\nname: x\ncommand: [a]\n", first: nil),
        Hostile(
            name: "10000 trailing newlines",
            text: "kind: App\nname: x\ncommand: [a]\nports: [{name: p, container: 1, publish: 1}]\n"
                + String(repeating: "\n", count: 10000), first: nil),
    ]

    /// Hostile inputs end with the diagnostics they deserve (or load, when they are valid), never a
    /// crash or a hang; every location lies inside the input.
    @Test(.timeLimit(.minutes(1)), arguments: hostile)
    func hostileInputsDoNotCrashOrHang(_ item: Hostile) {
        let result = load(["a.yaml": item.text])
        #expect((result.state == nil) == result.diagnostics.hasErrors)
        let lines = item.text.split(separator: "\n", omittingEmptySubsequences: false)
        for diagnostic in result.diagnostics {
            #expect(diagnostic.location.line >= 1 && diagnostic.location.line <= lines.count, "\(diagnostic)")
            #expect(diagnostic.location.column >= 1, "\(diagnostic)")
        }
        if let first = item.first {
            #expect(result.state == nil)
            #expect(result.diagnostics.first?.description.hasPrefix(first) == true, "\(result.diagnostics.prefix(3))")
        } else {
            #expect(result.state != nil, "\(result.diagnostics.prefix(3))")
        }
    }
}
