import Foundation
import ReconcileTesting
import Testing

/// Runs the built `reconcile` binary as a user would and checks output and exit status.
@Suite struct CLITests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: URL {
        let besideTests = Bundle.main.bundleURL.appendingPathComponent("reconcile")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        let fromArgument = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for directory in [fromArgument, fromArgument.deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("reconcile")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return packageRoot.appendingPathComponent(".build/debug/reconcile")
    }

    /// Runs the CLI and waits for it on a thread of its own (see `Blocking`): a test waiting for a
    /// command must not hold one of the cooperative pool's few threads meanwhile.
    static func run(
        _ arguments: [String], executable: URL = binary, prefix: [String] = []
    ) async throws
        -> Command.Output
    {
        try await Blocking.run { try runBlocking(arguments, executable: executable, prefix: prefix) }
    }

    /// The same, blocking its caller: for the synchronous conditions a test polls.
    static func runBlocking(
        _ arguments: [String], executable: URL = binary, prefix: [String] = []
    ) throws
        -> Command.Output
    {
        prefix.isEmpty
            ? try Command.run(arguments, executable: executable, in: packageRoot)
            : try Command.run(prefix + arguments, in: packageRoot)
    }

    @Test func validateExamplesAndReferenceManifests() async throws {
        let datalab = try await Self.run(["validate", "examples/datalab"])
        #expect(datalab.status == 0, "\(datalab.stdout)\(datalab.stderr)")
        #expect(datalab.stdout.contains("valid: 5 files, 1 node, 2 apps, 1 DAG, 2 checks, 2 notifiers"))
        let manifests = try await Self.run(["validate", "manifests"])
        #expect(manifests.status == 0, "\(manifests.stdout)\(manifests.stderr)")
        #expect(manifests.stdout.hasSuffix(", 1 registry, 2 volumes, 2 silences, 1 pool\n"), "\(manifests.stdout)")
    }

    @Test func validateReportsErrorsAndExitsOne() async throws {
        let folder = "Tests/ReconcileManifestTests/Corpus/dag-cycle"
        let result = try await Self.run(["validate", folder])
        #expect(result.status == 1)
        #expect(result.stdout == "a.yaml:4:3: error: tasks form a cycle: a -> b -> c -> a\n")
        #expect(result.stderr.contains("1 error"))
    }

    @Test func validateJSONOutput() async throws {
        let result = try await Self.run([
            "validate", "Tests/ReconcileManifestTests/Corpus/published-port-twice", "--output", "json",
        ])
        #expect(result.status == 1)
        struct Report: Decodable {
            struct Item: Decodable {
                var file: String
                var line: Int
                var column: Int
                var message: String
            }
            var valid: Bool
            var diagnostics: [Item]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(!report.valid)
        #expect(report.diagnostics.map { "\($0.file):\($0.line):\($0.column)" } == ["b.yaml:5:45"])
    }

    /// An empty token file would make the API's token the empty string: refused with the reason.
    @Test func anEmptyAPITokenFileIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("empty-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "\n".write(toFile: folder.path + "/token", atomically: true, encoding: .utf8)
        let result = try await Self.run([
            "controller", "--repo", folder.path, "--state", folder.path + "/state", "--listen", "127.0.0.1:0",
            "--api-token", "file:" + folder.path + "/token",
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is empty"), "\(result.stderr)")
    }

    @Test func validateMissingPathIsAnError() async throws {
        let result = try await Self.run(["validate", "no/such/dir"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no/such/dir: no such file or directory"))
    }

    @Test func scheduleNextPrintsUTCInstants() async throws {
        let result = try await Self.run([
            "schedule", "next", "30 2 * * *", "--tz", "America/Vancouver", "--after", "2026-03-07T12:00:00Z", "--count",
            "3",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "2026-03-08T10:00:00Z\n2026-03-09T09:30:00Z\n2026-03-10T09:30:00Z\n")
        let json = try await Self.run([
            "schedule", "next", "30 2 * * *", "--tz", "America/Vancouver", "--after", "2026-03-07T12:00:00Z", "--count",
            "3", "--output", "json",
        ])
        let times = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String]
        #expect(times == ["2026-03-08T10:00:00Z", "2026-03-09T09:30:00Z", "2026-03-10T09:30:00Z"], "\(json.stdout)")
    }

    @Test(arguments: [
        (["schedule", "next", "0 0 30 2 *"], "can never fire"),
        (["schedule", "next", "* * *"], "has 3 fields"),
        (["schedule", "next", "@daily", "--tz", "PST"], "unknown time zone"),
        (["schedule", "next", "@daily", "--after", "yesterday"], "invalid time"),
        (["schedule", "next", "@daily", "--count", "0"], "--count must be between"),
    ])
    func scheduleNextRejectsBadInput(arguments: [String], fragment: String) async throws {
        let result = try await Self.run(arguments)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
    }

    @Test func schemaValidatesTheExamplesWithJSONSchema() async throws {
        let result = try await Self.run(["schema"])
        #expect(result.status == 0)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let definitions = try #require(schema["definitions"] as? [String: Any])
        #expect(
            Set(definitions.keys) == [
                "Node", "App", "DAG", "Check", "Notifier", "Registry", "Volume", "Silence", "Pool",
            ])

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schemaFile = directory.appendingPathComponent("schema.json")
        try Data(result.stdout.utf8).write(to: schemaFile)
        let invalid = directory.appendingPathComponent("invalid.yaml")
        try "kind: App\nname: web\nimgae: x\n---\nkind: DAG\nname: d\ntasks: { a: { retries: many } }\n".write(
            to: invalid, atomically: true, encoding: .utf8)
        var files: [String] = []
        for folder in ["examples/datalab", "manifests"] {
            let names = try FileManager.default.contentsOfDirectory(
                atPath: Self.packageRoot.appendingPathComponent(folder).path)
            files += names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(folder)/\($0)" }
        }
        let check = try await Self.run(
            [Self.packageRoot.appendingPathComponent("Tests/oracles/schema_check.py").path, schemaFile.path]
                + files + [invalid.path],
            prefix: ["python3"])
        #expect(check.status == 0, "\(check.stderr)")
        let lines = check.stdout.split(separator: "\n")
        let invalidLines = lines.filter { $0.hasPrefix("invalid") }
        // Every document of the examples and reference files conforms; both broken documents do not.
        #expect(lines.filter { $0.hasPrefix("ok") }.count >= files.count)
        #expect(invalidLines.count == 2, "\(invalidLines)")
        #expect(invalidLines.allSatisfy { $0.contains(invalid.path) }, "\(invalidLines)")
    }

    /// `--version`: the version and the commit the binary was built from (the package's HEAD).
    @Test func versionNamesTheCommit() async throws {
        let result = try await Self.run(["--version"])
        #expect(result.status == 0)
        // The commit the binary was built from: this repository's HEAD, or (a binary built before
        // the last commits, as with `swift test --skip-build`) one of its ancestors.
        let commit = try #require(
            result.stdout.split(separator: " ").dropFirst(2).first.map { String($0.prefix(12)) }, "\(result.stdout)")
        #expect(result.stdout.hasPrefix("0.2.0 (commit \(commit)"), "\(result.stdout)")
        #expect(commit.count == 12 && commit.allSatisfy(\.isHexDigit), "\(result.stdout)")
        let ancestor = try Command.run([
            "git", "-C", Self.packageRoot.path, "merge-base", "--is-ancestor", commit, "HEAD",
        ])
        #expect(ancestor.status == 0, "\(commit) is not a commit of this repository's history")
        for shell in ["bash", "zsh", "fish"] {
            let script = try await Self.run(["--generate-completion-script", shell])
            #expect(script.status == 0 && script.stdout.contains("reconcile"), "\(shell)")
        }
    }

    @Test func helpListsTheCommands() async throws {
        let result = try await Self.run(["--help"])
        #expect(result.status == 0)
        for command in ["validate", "schedule", "schema"] { #expect(result.stdout.contains(command)) }
    }

    /// The prose above USAGE is wrapped by the argument parser (lines under 80 columns), never broken by the
    /// source: within a paragraph a line ends only where the next word would not fit.
    @Test(arguments: [
        [], ["controller"], ["explain"], ["logs"], ["dags"], ["dags", "backfill"], ["rerun"], ["status"],
        ["validate"], ["alerts", "silence"], ["nodes", "drain"],
    ])
    func helpProseIsWrappedByTheParser(_ command: [String]) async throws {
        let result = try await Self.run(command + ["--help"])
        #expect(result.status == 0)
        let prose = result.stdout.components(separatedBy: "USAGE:")[0].split(
            separator: "\n", omittingEmptySubsequences: false)
        for (line, next) in zip(prose, prose.dropFirst()) where !line.isEmpty && !next.isEmpty {
            let word = next.split(separator: " ").first ?? ""
            #expect(line.count + 1 + word.count >= 80, "\(command): \"\(line)\" breaks before \"\(word)\"")
        }
    }
}

@Suite struct ValidateRepositoryCLITests {
    static func git(_ arguments: [String], in directory: URL) throws {
        let result = try Command.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"] + arguments, in: directory)
        try #require(result.status == 0, "git \(arguments): \(result.stderr)")
    }

    @Test func validatesACommitOfARepository() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-repo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(
            at: repository.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        try Self.git(["init", "-q", "-b", "main"], in: repository)
        try "kind: App\nname: web\ncommand: [serve]\n".write(
            to: repository.appendingPathComponent("deploy/web.yaml"), atomically: true, encoding: .utf8)
        try Self.git(["add", "-A"], in: repository)
        try Self.git(["commit", "-q", "-m", "good"], in: repository)
        try Self.git(["tag", "good"], in: repository)
        try "kind: App\nname: web\ncommand: serve\n".write(
            to: repository.appendingPathComponent("deploy/web.yaml"), atomically: true, encoding: .utf8)
        try Self.git(["commit", "-q", "-am", "bad"], in: repository)
        let state = root.appendingPathComponent("state").path

        let good = try await CLITests.run([
            "validate", "--repo", repository.path, "--ref", "good", "--path", "deploy", "--state", state,
        ])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.hasPrefix("valid: 0 nodes (implicit node local), 1 app"))

        let bad = try await CLITests.run(["validate", "--repo", repository.path, "--path", "deploy", "--state", state])
        #expect(bad.status == 1)
        #expect(bad.stdout == "web.yaml:3:10: error: \"command\" must be a list, found the value \"serve\"\n")
        #expect(bad.stderr.contains("1 error in \(repository.path) at HEAD = "))

        let missing = try await CLITests.run(["validate", "--repo", repository.path, "--ref", "nope", "--state", state])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("ref \"nope\" not found; branches: main"))

        let both = try await CLITests.run(["validate", "examples/datalab", "--repo", repository.path])
        #expect(both.status != 0)
    }
}

@Suite struct DryRunCLITests {
    @Test func dryRunAgainstARefPrintsThePlanOffline() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-dry-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        let node = "kind: Node\nname: node-a\nprocess: {}\ncapacity: { cpu: 4, memory: 4Gi }\n"
        let web = "kind: App\nname: web\ncommand: [serve, v1]\nreplicas: 2\n"
        try node.write(to: repository.appendingPathComponent("node.yaml"), atomically: true, encoding: .utf8)
        try web.write(to: repository.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        try "kind: App\nname: old-api\ncommand: [api]\n".write(
            to: repository.appendingPathComponent("old.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "base"], in: repository)
        try ValidateRepositoryCLITests.git(["tag", "base"], in: repository)
        try web.replacingOccurrences(of: "v1", with: "v2").replacingOccurrences(of: "replicas: 2", with: "replicas: 3")
            .write(to: repository.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: repository.appendingPathComponent("old.yaml"))
        try "kind: DAG\nname: nightly\nschedule: \"0 3 * * *\"\ntasks:\n  a: { command: [run] }\n".write(
            to: repository.appendingPathComponent("dag.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "change"], in: repository)
        let state = root.appendingPathComponent("state").path

        let result = try await CLITests.run([
            "--dry-run", "--against", "base", "--repo", repository.path, "--state", state,
        ])
        #expect(result.status == 2, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 5, "\(lines)")
        #expect(lines[0].hasPrefix("plan: "))
        #expect(lines[1] == "- app old-api: 1 container removed")
        #expect(
            lines[2]
                == "~ app web: command serve v1 -> command serve v2 (rolling: 3 replicas, maxSurge 1, maxUnavailable 0)"
        )
        #expect(lines[3].hasPrefix("+ dag nightly: new; next run "))
        #expect(lines[4] == "= 1 resource unchanged")

        let same = try await CLITests.run([
            "--dry-run", "--against", "main", "--repo", repository.path, "--state", state,
        ])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.hasSuffix("= 3 resources unchanged\n"))

        try "kind: App\nname: web\nreplicas: many\n".write(
            to: repository.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "broken"], in: repository)
        let broken = try await CLITests.run([
            "--dry-run", "--against", "base", "--repo", repository.path, "--state", state,
        ])
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("web.yaml:3:11: error:"))
        #expect(broken.stderr.contains("is invalid; no plan"))
    }

    /// `--output json`: the plan as a versioned document that its schema (`schema --plan`) accepts,
    /// one action per line of the text plan (same lines, same order), with details; same exit status.
    @Test func thePlanAsJSONMatchesItsSchemaAndTheTextPlan() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-json-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(
            at: repository.appendingPathComponent("conf"), withIntermediateDirectories: true)
        func write(_ files: [String: String]) throws {
            for (path, text) in files {
                try text.write(to: repository.appendingPathComponent(path), atomically: true, encoding: .utf8)
            }
        }
        let node = "kind: Node\nname: node-a\nprocess: {}\ncapacity: { cpu: 8, memory: 8Gi }\n"
        try write([
            "node.yaml": node,
            "web.yaml": "kind: App\nname: web\ncommand: [serve, v1]\nreplicas: 2\n",
            "old.yaml": "kind: App\nname: old-api\ncommand: [api]\n",
            "dag.yaml": "kind: DAG\nname: nightly\nschedule: \"0 3 * * *\"\ntasks:\n  a: { command: [run] }\n",
            "check.yaml": "kind: Check\nname: up\ntcp: { host: 127.0.0.1, port: 9 }\n",
            "notifier.yaml": "kind: Notifier\nname: hook\nwebhook: { url: \"http://127.0.0.1:9/a\" }\n",
            "volume.yaml": "kind: Volume\nname: scratch\n",
            "conf/web.conf": "v1\n",
        ])
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "base"], in: repository)
        try ValidateRepositoryCLITests.git(["tag", "base"], in: repository)
        try FileManager.default.removeItem(at: repository.appendingPathComponent("old.yaml"))
        try FileManager.default.removeItem(at: repository.appendingPathComponent("check.yaml"))
        try FileManager.default.removeItem(at: repository.appendingPathComponent("volume.yaml"))
        try write([
            "node.yaml": node.replacingOccurrences(of: "cpu: 8", with: "cpu: 16"),
            "web.yaml":
                "kind: App\nname: web\ncommand: [serve, v2]\nreplicas: 3\nfiles:\n  - { path: /etc/web.conf, from: conf/web.conf }\n",
            "api.yaml": "kind: App\nname: api\ncommand: [api, v1]\n",
            "dag.yaml":
                "kind: DAG\nname: nightly\nschedule: \"0 3 * * *\"\ntasks:\n  a: { command: [run, fast] }\n  b: { command: [load], after: [a] }\n",
            "notifier.yaml": "kind: Notifier\nname: hook\nwebhook: { url: \"http://127.0.0.1:9/b\" }\n",
            "registry.yaml":
                "kind: Registry\nname: private\nserver: registry.local:5000\nusername: ci\npassword: env:REGISTRY_PASSWORD\n",
            "data.yaml": "kind: Volume\nname: data\n",
            "pool.yaml": "kind: Pool\nname: warehouse\nslots: 2\n",
        ])
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "change"], in: repository)
        let state = root.appendingPathComponent("state").path
        let arguments = ["--dry-run", "--against", "base", "--repo", repository.path, "--state", state]
        let text = try await CLITests.run(arguments)
        let json = try await CLITests.run(arguments + ["--output", "json"])
        #expect(text.status == 2 && json.status == 2, "\(json.stderr)")

        // Valid against its schema (python-jsonschema, draft 2020-12).
        let schema = try await CLITests.run(["schema", "--plan"])
        let schemaFile = root.appendingPathComponent("plan.schema.json")
        let planFile = root.appendingPathComponent("plan.json")
        try Data(schema.stdout.utf8).write(to: schemaFile)
        try Data(json.stdout.utf8).write(to: planFile)
        let check = try await CLITests.run(
            [
                "-c",
                "import json, sys, jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))"
                    + ".validate(json.load(open(sys.argv[2]))); print('valid')",
                schemaFile.path, planFile.path,
            ], prefix: ["python3"])
        #expect(check.stdout == "valid\n", "\(check.stderr)")

        // The same lines as the text plan, in order; every kind of resource and change is there.
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let actions = try #require(document["actions"] as? [[String: Any]])
        let textLines = text.stdout.split(separator: "\n").map(String.init).filter {
            !$0.hasPrefix("plan:") && !$0.hasPrefix("=")
        }
        #expect(actions.compactMap { $0["line"] as? String } == textLines)
        let kinds = Set(actions.compactMap { $0["kind"] as? String })
        #expect(kinds == ["app", "dag", "check", "notifier", "node", "registry", "volume", "pool"], "\(kinds)")
        #expect(textLines.contains("+ pool warehouse: new (2 slots)"), "\(textLines)")
        let markers = Set(actions.compactMap { $0["marker"] as? String })
        #expect(markers == ["+", "-", "~"])
        let web = try #require(actions.first { $0["name"] as? String == "web" })
        #expect(web["change"] as? String == "updated")
        let details = try #require(web["details"] as? [String: Any])
        #expect((details["command"] as? [String: Any])?["to"] as? [String] == ["serve", "v2"])
        #expect((details["replicas"] as? [String: Any])?["from"] as? Int == 2)
        #expect((details["replicas"] as? [String: Any])?["to"] as? Int == 3)
        #expect((details["files"] as? [[String: Any]])?.first?["path"] as? String == "/etc/web.conf")
        let dag = try #require(actions.first { $0["kind"] as? String == "dag" })
        #expect((dag["details"] as? [String: Any])?["tasksAdded"] as? [String] == ["b"])
        #expect((dag["details"] as? [String: Any])?["tasksChanged"] as? [String] == ["a"])
        let summary = try #require(document["summary"] as? [String: Any])
        #expect(summary["added"] as? Int == actions.filter { $0["marker"] as? String == "+" }.count)
        #expect(document["changed"] as? Bool == true)
        #expect(document["version"] as? Int == 1)
        let commits = try #require(document["commits"] as? [String: Any])
        #expect((commits["from"] as? [String: Any])?["ref"] as? String == "base")
    }

    /// A commit that changes only a configuration file an App reads plans a rollout of that App,
    /// and says which file changed.
    @Test func aChangedConfigFileIsAChangeOfItsApp() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-files-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(
            at: repository.appendingPathComponent("config"), withIntermediateDirectories: true)
        let api = """
            kind: App
            name: api
            command: [serve]
            files:
              - { path: /etc/api/config.yaml, from: config/api.yaml }
            """
        try api.write(to: repository.appendingPathComponent("api.yaml"), atomically: true, encoding: .utf8)
        try "level: info\n".write(
            to: repository.appendingPathComponent("config/api.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "base"], in: repository)
        try ValidateRepositoryCLITests.git(["tag", "base"], in: repository)
        try "level: debug\n".write(
            to: repository.appendingPathComponent("config/api.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "debug logging"], in: repository)
        let result = try await CLITests.run([
            "--dry-run", "--against", "base", "--repo", repository.path, "--state",
            root.appendingPathComponent("state").path,
        ])
        #expect(result.status == 2, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.dropFirst().first
                == "~ app api: file /etc/api/config.yaml changed (rolling: 1 replicas, maxSurge 1, maxUnavailable 0)",
            "\(lines)")
    }
}
