import Foundation
import ReconcileManifest
import ReconcileModel
import Testing

@Suite struct ManifestLoaderTests {
    func load(_ files: [String: String]) -> ManifestLoader.Result {
        ManifestLoader.load(files.map { ManifestFile(path: $0.key, contents: $0.value) }.sorted { $0.path < $1.path })
    }

    func loadDirectory(_ path: String) throws -> ManifestLoader.Result {
        let root = TestPaths.packageRoot.appendingPathComponent(path).path
        let (files, problems) = try ManifestDirectory.read(root: root)
        return ManifestLoader.load(
            files, repository: ManifestDirectory.repository(root: root), extraDiagnostics: problems)
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
        // files: the repository file's bytes as committed, inline text, a secret reference (0400).
        let conf = try #require(app.files.first { $0.path == "/etc/web/web.conf" })
        let onDisk = try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("manifests/config/web.conf"))
        #expect(conf.source == .repository(path: "config/web.conf", content: onDisk))
        #expect(conf.mode == 0o644)
        #expect(app.files.first { $0.path == "/run/secrets/db-password" }?.mode == 0o400)
        #expect(app.volumes.map(\.mount) == ["/srv/static", "/var/cache/web"])
        #expect(state.volumes.map(\.name).sorted() == ["warehouse-staging", "web-cache"])
        #expect(app.update.minReadyTime == .seconds(10))
        // Alerting fields: App and DAG conditions, severities, counts, task output, silences.
        #expect(app.alertAfter == .minutes(5) && app.notifyOn == [.deployed, .rolledBack])
        #expect(state.dags.first { $0.name == "marketing-etl" }?.deadline == .hours(6))
        #expect(state.dags.first { $0.name == "marketing-etl" }?.queuedAlertAfter == .hours(1))
        // Operating pipelines: params, sensors, pools, runs after another DAG.
        let etl = try #require(state.dags.first { $0.name == "marketing-etl" })
        #expect(
            etl.params == [
                DAGParam(name: "account", type: .int, defaultValue: "0", description: "only this account, 0: all"),
                DAGParam(name: "target", type: .enumeration(["staging", "prod"]), defaultValue: "prod"),
            ])
        let landed = try #require(etl.tasks.first { $0.name == "files-landed" })
        #expect(
            landed.sensor
                == SensorSpec(condition: .file(path: "/data/landing/ready"), interval: .seconds(30), timeout: .hours(2))
        )
        #expect(landed.command == nil && landed.pool == nil)
        #expect(etl.tasks.first { $0.name == "extract-salesforce" }?.pool == "warehouse")
        #expect(state.pools == [PoolSpec(name: "warehouse", slots: 2)])
        #expect(state.dags.first { $0.name == "marketing-report" }?.after == ["marketing-etl"])
        #expect(state.dags.first { $0.name == "marketing-report" }?.schedule == nil)
        let checks = Dictionary(uniqueKeysWithValues: state.checks.map { ($0.name, $0) })
        #expect(checks["collector-processing"]?.severity == .critical)
        #expect(checks["disk-space"]?.severity == nil, "a command's exit says it")
        #expect(
            checks["collector-error-rate"]?.probe
                == .logs(pattern: "ERROR", mode: .count(above: 10, below: nil), within: .minutes(5)))
        #expect(
            checks["warehouse-row-count"]?.task == CheckSpec.TaskTarget(dag: "marketing-etl", task: "load-warehouse"))
        #expect(
            checks["warehouse-row-count"]?.probe
                == .logs(pattern: #"loaded [1-9]\d* rows"#, mode: .match, within: .zero))
        let mail = try #require(state.notifiers.first { $0.name == "team-email" })
        #expect(mail.minSeverity == .critical && mail.groupWait == .seconds(10))
        #expect(state.notifiers.first { $0.name == "datalab-slack" }?.minSeverity == .warning)
        let silences = Dictionary(uniqueKeysWithValues: state.silences.map { ($0.name, $0) })
        #expect(
            silences["warehouse-maintenance"]?.matchers == [
                .init(incident: "check/warehouse-*", severity: .warning), .init(incident: "dag/nightly-etl"),
            ])
        #expect(
            silences["warehouse-maintenance"]?.window
                == .recurring(
                    schedule: try CronSchedule(parsing: "0 2 * * sun"), duration: .hours(2), timezone: "Europe/Berlin"))
        #expect(
            silences["datacenter-move"]?.window
                == .fixed(
                    from: ISO8601DateFormatter().date(from: "2026-12-05T22:00:00Z")!,
                    until: ISO8601DateFormatter().date(from: "2026-12-06T04:00:00Z")!))
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

    /// A repository in a temporary folder: path -> text.
    func loadFiles(_ files: [String: String]) throws -> ManifestLoader.Result {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("loader-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let (manifests, problems) = try ManifestDirectory.read(root: root.path)
        return ManifestLoader.load(
            manifests, repository: ManifestDirectory.repository(root: root.path), extraDiagnostics: problems)
    }

    @Test func aYAMLFileReadByFilesIsConfigurationNotAManifest() throws {
        let app = """
            kind: App
            name: api
            command: [serve]
            files:
              - path: /etc/api/config.yaml
                from: conf/api.yaml
            """
        let result = try loadFiles(["api.yaml": app, "conf/api.yaml": "listen: 8080\n"])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let spec = try #require(result.state?.apps.first)
        #expect(spec.files.first?.source == .repository(path: "conf/api.yaml", content: Data("listen: 8080\n".utf8)))
        // Without the reference the same file is read as a manifest, and refused.
        let unreferenced = try loadFiles([
            "api.yaml": "kind: App\nname: api\ncommand: [serve]\n", "conf/api.yaml": "listen: 8080\n",
        ])
        #expect(
            unreferenced.diagnostics.map(\.description) == [
                "conf/api.yaml:1:1: error: document has no \"kind\"; add kind: with one of Node, App, DAG, Check, Notifier, Registry, Volume, Silence, Pool"
            ])
    }

    @Test func reconcileIgnoreExcludesPathsFromTheManifests() throws {
        let result = try loadFiles([
            "api.yaml": "kind: App\nname: api\ncommand: [serve]\n",
            ".reconcileignore": "# fixtures\nfixtures/\n*.values.yaml\n!keep.values.yaml\n",
            "fixtures/broken.yaml": "not: a manifest\n",
            "deep/chart.values.yaml": "replicas: 3\n",
            "deep/keep.values.yaml": "kind: App\nname: kept\ncommand: [serve]\n",
        ])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.state?.apps.map(\.name).sorted() == ["api", "kept"])
    }

    @Test func aFileOverTheLimitIsRefusedAtItsLine() throws {
        let app = """
            kind: App
            name: api
            command: [serve]
            files:
              - path: /data/big.bin
                from: big.bin
            """
        let result = try loadFiles([
            "api.yaml": app, "big.bin": String(repeating: "x", count: FileSpec.maximumSize + 1),
        ])
        #expect(
            result.diagnostics.map(\.description) == [
                "api.yaml:6:11: error: big.bin is \(FileSpec.maximumSize + 1) bytes; a file from the repository may be at most "
                    + "\(FileSpec.maximumSize) bytes (1 MiB): keep data in a volume"
            ])
    }

    @Test func taskFilesAndVolumesMergeWithTheDefaultsByPath() throws {
        let dag = """
            kind: Volume
            name: shared
            ---
            kind: DAG
            name: etl
            defaults:
              files:
                - { path: /etc/etl.ini, content: "default" }
                - { path: /etc/common.ini, content: "common", mode: "0600" }
              volumes:
                - { name: shared, mount: /data }
            tasks:
              load:
                command: [load]
                files:
                  - { path: /etc/etl.ini, content: "load" }
            """
        let result = try loadFiles(["etl.yaml": dag])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let task = try #require(result.state?.dags.first?.tasks.first)
        #expect(task.files.map(\.path) == ["/etc/common.ini", "/etc/etl.ini"])
        #expect(task.files.map(\.source) == [.inline("common"), .inline("load")])
        #expect(task.files.map(\.mode) == [0o600, 0o644])
        #expect(task.volumes == [VolumeMount(source: .named("shared"), mount: "/data")])
    }

    @Test(arguments: [
        // pattern, path, ignored
        ("config/", "config/a.yaml", true), ("config/", "x/config/a.yaml", true),
        ("/config/", "x/config/a.yaml", false),
        ("*.values.yaml", "a/b/c.values.yaml", true), ("a/*.yaml", "a/b/c.yaml", false),
        ("a/**/c.yaml", "a/b/d/c.yaml", true),
        ("a/**/c.yaml", "a/c.yaml", true), ("**/test", "x/test/y.yaml", true), ("doc/**", "doc/x/y.yaml", true),
        ("c?.yaml", "cd.yaml", true), ("c?.yaml", "c/.yaml", false), ("[ab].yaml", "b.yaml", true),
        ("[!ab].yaml", "b.yaml", false),
        ("[a-c]x.yaml", "bx.yaml", true), ("a.yaml", "b/a.yaml", true), ("/a.yaml", "b/a.yaml", false),
        ("\\#x.yaml", "#x.yaml", true),
        ("# comment", "# comment", false), ("x.yaml/", "x.yaml", false),
    ])
    func ignoreRulesFollowGitignore(_ pattern: String, _ path: String, _ ignored: Bool) {
        #expect(ReconcileIgnore(pattern).ignores(path) == ignored, "\(pattern) vs \(path)")
    }

    @Test func aLaterNegationReIncludes() {
        let rules = ReconcileIgnore("*.yaml\n!main.yaml\n")
        #expect(rules.ignores("x.yaml"))
        #expect(!rules.ignores("main.yaml"))
        #expect(!rules.ignores("sub/main.yaml"))
    }

    /// A duplicate key is reported where it repeats (the line to delete), naming the first.
    @Test func aDuplicateKeyIsReportedAtTheDuplicate() {
        let flow = load(["a.yaml": "kind: App\nname: web\ncommand: [a]\nresources: {cpu: 1, memory: 1Gi, cpu: 2}\n"])
        #expect(
            flow.diagnostics.map(\.description) == [
                "a.yaml:4:34: error: duplicate key \"cpu\" in one mapping (first at a.yaml:4:13); each key may appear once, delete one"
            ])
        let nested = load([
            "a.yaml":
                "kind: App\nname: web\ncommand: [a]\nupdate:\n  maxSurge: 1\n\n  # why\n  \"maxSurge\": 2\nreplicas: 1\n"
        ])
        #expect(
            nested.diagnostics.map(\.description) == [
                "a.yaml:8:3: error: duplicate key \"maxSurge\" in one mapping (first at a.yaml:5:3); each key may appear once, delete one"
            ])
    }
}
