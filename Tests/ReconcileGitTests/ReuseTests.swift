import Foundation
import ReconcileManifest
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileGit

/// A commit that changes a few manifests, and nothing the repository-wide rules read, is assembled
/// from the last assembly (`ManifestLoader.reassemble`). Whatever path a poll takes, it must give
/// what a full assembly of the same commit gives: these tests compare the two over random edits.
@Suite struct ReuseTests {
    /// The repository the edits start from: Nodes, Volumes (one shared, one not), a Notifier, Apps
    /// with published http ports and hosts, mounts, a `files: from:` file and alerts, a DAG whose
    /// tasks mount a volume and run after each other, a DAG after it, Checks on an App and a task.
    static let files: [String: String] = [
        "nodes.yaml": """
        kind: Node
        name: node-a
        docker: unix:///var/run/docker.sock
        capacity: { cpu: 4, memory: 8Gi }
        labels: { disk: ssd }
        ---
        kind: Node
        name: node-b
        process: {}
        capacity: { cpu: 2, memory: 4Gi }
        """,
        "volumes.yaml": """
        kind: Volume
        name: cache
        node: node-a
        shared: true
        ---
        kind: Volume
        name: ledger
        node: node-a
        """,
        "notifiers.yaml": """
        kind: Notifier
        name: team
        webhook: { url: env:TEAM_HOOK }
        """,
        "apps/web.yaml": """
        kind: App
        name: web
        image: example/web:1.0
        command: [serve, --port, "8080"]
        env: { LEVEL: info }
        replicas: 2
        resources: { cpu: 250m, memory: 256Mi }
        ports:
          - { name: http, container: 8080, publish: 8080, protocol: http, hosts: [web.example.com] }
        volumes:
          - { name: cache, mount: /cache }
        files:
          - { path: /etc/web.conf, from: config/web.conf }
        alerts: [team]
        """,
        "apps/api.yaml": """
        kind: App
        name: api
        image: example/api:1.0
        command: [serve]
        env: { LEVEL: warn }
        replicas: 1
        resources: { cpu: 500m, memory: 512Mi }
        ports:
          - { name: http, container: 9000, publish: 8080, protocol: http, hosts: [api.example.com] }
        volumes:
          - { name: ledger, mount: /ledger }
        """,
        "apps/worker.yaml": """
        kind: App
        name: worker
        command: [work, --batch, "10"]
        replicas: 3
        resources: { cpu: 100m, memory: 64Mi }
        """,
        "dags/etl.yaml": """
        kind: DAG
        name: etl
        schedule: "0 3 * * *"
        tasks:
          extract:
            image: example/etl:1.0
            command: [extract]
            volumes:
              - { name: cache, mount: /cache }
          load:
            image: example/etl:1.0
            command: [load]
            after: [extract]
        """,
        "dags/report.yaml": """
        kind: DAG
        name: report
        schedule: { after: [etl] }
        tasks:
          render:
            command: [render]
        """,
        "checks.yaml": """
        kind: Check
        name: web-up
        app: web
        logs: { match: 'ready', within: 10m }
        alerts: [team]
        ---
        kind: Check
        name: loaded
        task: etl/load
        logs: { match: 'rows loaded' }
        """,
        "config/web.conf": "level = info\n",
        "README.md": "The team's services.\n",
    ]

    /// One edit of a file's text; nil when it does not apply to that text.
    struct Edit: Sendable {
        var name: String
        var apply: @Sendable (String) -> String?
    }

    static func replacing(_ name: String, _ target: String, _ replacement: String) -> Edit {
        Edit(name: name) { $0.contains(target) ? $0.replacingOccurrences(of: target, with: replacement) : nil }
    }

    /// Edits no rule across files reads (the reused path), and edits that change what they read or
    /// break the file (the full path).
    static let edits: [Edit] = [
        replacing("image tag", ":1.0", ":1.1"),
        replacing("image tag back", ":1.1", ":1.0"),
        replacing("env value", "LEVEL: info", "LEVEL: debug"),
        replacing("command", "[serve]", "[serve, --fast]"),
        Edit(name: "comment line on top") { "# edited\n" + $0 },
        replacing("replicas 2 to 3", "replicas: 2", "replicas: 3"),
        replacing("replicas 1 to 2", "replicas: 1", "replicas: 2"),
        replacing("replicas 3 to 1", "replicas: 3", "replicas: 1"),
        replacing("schedule", "0 3 * * *", "30 4 * * *"),
        replacing("published port", "publish: 8080", "publish: 8081"),
        replacing("host", "web.example.com", "api.example.com"),
        replacing("protocol", "protocol: http, hosts: [api.example.com]", "protocol: tcp"),
        replacing("rename app", "name: worker", "name: worker-2"),
        replacing("rename task", "load:", "store:"),
        replacing("unknown notifier", "alerts: [team]", "alerts: [tema]"),
        replacing("cpu", "cpu: 250m", "cpu: 64"),
        replacing("node labels", "disk: ssd", "disk: hdd"),
        replacing("volume shared", "shared: true", "shared: false"),
        replacing("from file", "from: config/web.conf", "from: config/missing.conf"),
        replacing("dag edge", "after: [etl]", "after: [report]"),
        Edit(name: "broken yaml") { $0 + "\n  : - [\n" },
        Edit(name: "unknown field") { $0 + "\nsurprise: 1\n" },
    ]

    /// What a full assembly of the commit says, from a source that has seen no earlier commit.
    static func fullAssembly(of origin: WorkRepository, in fixture: GitFixture, step: Int) async -> Verdict {
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state + "-full-\(step)"), ref: "main")
        return Verdict(await source.poll())
    }

    /// A poll's outcome, compared whole: the state (every spec and place) and every diagnostic.
    enum Verdict: Equatable {
        case applied(commit: String, state: DesiredState, diagnostics: [Diagnostic])
        case invalid(commit: String, diagnostics: [Diagnostic])
        case other(String)

        init(_ outcome: GitManifestSource.Outcome) {
            switch outcome {
            case .applied(let snapshot):
                self = .applied(commit: snapshot.commit, state: snapshot.state, diagnostics: snapshot.diagnostics)
            case .invalid(let commit, let diagnostics, _): self = .invalid(commit: commit, diagnostics: diagnostics)
            case .unchanged(let commit, _): self = .other("unchanged \(commit)")
            case .failed(let error, _): self = .other("failed \(error)")
            }
        }
    }

    /// The starting repository committed, and a source that has applied it.
    static func start(_ name: String) async throws -> (GitFixture, WorkRepository, GitManifestSource) {
        let fixture = try GitFixture(name)
        let origin = try fixture.repository()
        for (path, text) in files { try origin.write(path, text) }
        try origin.commit("start")
        let source = GitManifestSource(source: GitSource(remote: origin.path, stateDirectory: fixture.state))
        let outcome = await source.poll()
        guard case .applied = outcome else { throw FixtureError("the starting repository is valid: \(outcome)") }
        return (fixture, origin, source)
    }

    @Test func aReusedAssemblyIsTheFullAssemblyOverRandomEdits() async throws {
        let (fixture, origin, source) = try await Self.start("reuse")
        var random = SeededGenerator(seed: 20_261_202)
        let paths = Self.files.keys.sorted()
        var texts = Self.files
        var lastValid = texts
        var reusedEdits: Set<String> = []
        var fullEdits: Set<String> = []
        var step = 0
        while step < 60 {
            // Mostly one file, sometimes two; now and then a file goes back to how it started.
            var changed: [String] = []
            for _ in 0..<(random.next(upperBound: UInt(4)) == 0 ? 2 : 1) {
                let path = paths[Int(random.next(upperBound: UInt(paths.count)))]
                let text = texts[path] ?? ""
                if random.next(upperBound: UInt(8)) == 0, let start = Self.files[path], start != text {
                    texts[path] = start
                    changed.append("\(path): back to the start")
                    continue
                }
                let edit = Self.edits[Int(random.next(upperBound: UInt(Self.edits.count)))]
                guard let edited = edit.apply(text), edited != text else { continue }
                texts[path] = edited
                changed.append("\(path): \(edit.name)")
            }
            guard !changed.isEmpty else { continue }
            step += 1
            for (path, text) in texts { try origin.write(path, text) }
            try origin.commit("step \(step)")
            let reusedBefore = await source.reusedAssemblies
            let polled = Verdict(await source.poll())
            let full = await Self.fullAssembly(of: origin, in: fixture, step: step)
            #expect(polled == full, "step \(step), \(changed)")
            // A refused commit is repaired by the next one (its files go back to the last valid commit's).
            if case .applied = polled { lastValid = texts } else { texts = lastValid }
            if await source.reusedAssemblies > reusedBefore {
                reusedEdits.formUnion(changed)
            } else {
                fullEdits.formUnion(changed)
            }
        }
        // Both ways were taken, each for edits of several kinds.
        #expect(reusedEdits.count >= 5, "reused: \(reusedEdits.sorted())")
        #expect(fullEdits.count >= 5, "full: \(fullEdits.sorted())")
    }

    @Test func whatNoRuleReadsIsReusedAndWhatOneReadsIsNot() async throws {
        let (fixture, origin, source) = try await Self.start("reuse-kinds")
        // The fixture's folders (the origin and the source's clone) live until the test ends.
        defer { withExtendedLifetime(fixture) {} }
        var texts = Self.files
        /// Commits one edit of `path`; returns whether the poll reused the last assembly and its outcome.
        func commit(
            _ path: String, _ edit: (String) -> String
        ) async throws -> (
            reused: Bool, outcome: GitManifestSource.Outcome
        ) {
            texts[path] = edit(texts[path] ?? "")
            try origin.write(path, texts[path] ?? "")
            try origin.commit(path)
            let before = await source.reusedAssemblies
            let outcome = await source.poll()
            return (await source.reusedAssemblies > before, outcome)
        }

        // An image tag and a comment line above (every later place moves): reused, and the state
        // has the new image and the new place of the document.
        let tag = try await commit("apps/api.yaml") {
            "# moved down\n" + $0.replacingOccurrences(of: ":1.0", with: ":2.0")
        }
        #expect(tag.reused)
        guard case .applied(let tagged) = tag.outcome else {
            Issue.record("an image tag commit applies: \(tag.outcome)")
            return
        }
        #expect(tagged.state.apps.first { $0.name == "api" }?.image == "example/api:2.0")
        #expect(tagged.state.locations[ResourceID(.app, "api")]?.line == 2)
        // The resolved parts stay: web's file content and its volume's node.
        let web = tagged.state.apps.first { $0.name == "web" }
        #expect(web?.files.first?.source == .repository(path: "config/web.conf", content: Data("level = info\n".utf8)))
        #expect(web?.volumes.first?.node == "node-a")

        // The same for a resolved App: its new spec keeps what resolving gave the old one.
        let webEnv = try await commit("apps/web.yaml") {
            $0.replacingOccurrences(of: "LEVEL: info", with: "LEVEL: debug")
        }
        #expect(webEnv.reused)
        guard case .applied(let envState) = webEnv.outcome else {
            Issue.record("an env commit applies: \(webEnv.outcome)")
            return
        }
        let webAfter = envState.state.apps.first { $0.name == "web" }
        #expect(webAfter?.env["LEVEL"] == "debug")
        #expect(webAfter?.files == web?.files)
        #expect(webAfter?.volumes == web?.volumes)

        // A published port another App shares is read by the port rule: assembled in full, and the
        // clash found.
        let port = try await commit("apps/api.yaml") {
            $0.replacingOccurrences(of: "protocol: http, hosts: [api.example.com]", with: "protocol: tcp")
        }
        #expect(!port.reused)
        guard case .invalid(_, let diagnostics, _) = port.outcome else {
            Issue.record("a tcp port shared with an http App is refused: \(port.outcome)")
            return
        }
        #expect(diagnostics.contains { $0.message.contains("port 8080 is already published by app") })
        _ = try await commit("apps/api.yaml") { _ in Self.files["apps/api.yaml"] ?? "" }

        // A second replica of an App on a volume that is not shared: a rule across files refuses it.
        let replicas = try await commit("apps/api.yaml") {
            $0.replacingOccurrences(of: "replicas: 1", with: "replicas: 2")
        }
        #expect(!replicas.reused)
        guard case .invalid(_, let refused, _) = replicas.outcome else {
            Issue.record("two replicas on an unshared volume are refused: \(replicas.outcome)")
            return
        }
        #expect(refused.contains { $0.message.contains("mounts volume ledger at /ledger, which is not shared") })

        // The next valid commit after an invalid one is reused from the last valid assembly.
        let back = try await commit("apps/api.yaml") { $0.replacingOccurrences(of: "replicas: 2", with: "replicas: 1") }
        guard case .applied = back.outcome else {
            Issue.record("the repaired commit applies: \(back.outcome)")
            return
        }
        #expect(back.reused)

        // A `from:` file changed: assembled in full, with the new bytes.
        let config = try await commit("config/web.conf") { _ in "level = debug\n" }
        #expect(!config.reused)
        guard case .applied(let configured) = config.outcome else {
            Issue.record("a config commit applies: \(config.outcome)")
            return
        }
        #expect(
            configured.state.apps.first { $0.name == "web" }?.files.first?.source
                == .repository(path: "config/web.conf", content: Data("level = debug\n".utf8)))
    }
}
