import Foundation
import ReconcileDrivers
import ReconcileManifest
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

/// `files:` and named volumes on a real Docker engine and on the process driver, driven by passes
/// over manifests loaded from a folder (the loader reads `from:` files like a commit's).
@Suite(.serialized) struct VolumeAndFileTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case docker, process
        var testDescription: String { rawValue }
    }

    /// One node of the backend, its driver and a state directory.
    struct Cluster {
        let backend: Backend
        let state: String
        let node: NodeSpec
        let suffix = String(UUID().uuidString.prefix(6)).lowercased()

        /// A Docker engine of the test's own: a pass removes every App it does not know from its
        /// nodes, so tests never share an engine they plan against.
        let engine: DockerEngine?

        private init(_ backend: Backend, engine: DockerEngine?) throws {
            self.backend = backend
            self.engine = engine
            state = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            node =
                if let engine {
                    NodeSpec(name: "local", backend: .docker(endpoint: engine.endpoint, tls: nil))
                } else {
                    NodeSpec(name: "local", backend: .process)
                }
        }

        static func start(_ backend: Backend) async throws -> Cluster {
            try Cluster(backend, engine: backend == .docker ? try await DockerEngine.start() : nil)
        }

        /// A fresh driver, as a restarted controller makes one.
        func driver() throws -> any ContainerDriver {
            if let engine {
                return try DockerDriver(node: "local", endpoint: engine.endpoint, address: engine.publishAddress)
            }
            return try ProcessDriver(node: "local", stateDirectory: state, shimPath: LogCollectorTests.shim)
        }

        /// The App's image and command for the backend; `script` runs under /bin/sh with `$ROOT` the
        /// container's root (`$FILES` on a process node).
        func workload(_ script: String) -> String {
            let wrapped =
                "trap 'exit 0' TERM; ROOT=${FILES:-}; " + script + "; while true; do sleep 1 & wait $!; done"
            let command = "command: [\"/bin/sh\", \"-c\", \(jsonString(wrapped))]"
            return backend == .docker ? "image: reconcile-test/busybox:1\n" + command : command
        }

        /// Loads the manifests (`files` are path -> text under a fresh root).
        func load(_ files: [String: String]) throws -> DesiredState {
            let root = state + "/repo-\(UUID().uuidString)"
            for (path, text) in files {
                let url = URL(fileURLWithPath: root + "/" + path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try text.write(to: url, atomically: true, encoding: .utf8)
            }
            let (manifests, problems) = try ManifestDirectory.read(root: root)
            let result = ManifestLoader.load(
                manifests, repository: ManifestDirectory.repository(root: root), extraDiagnostics: problems)
            guard var state = result.state else { throw FixtureError("invalid: \(result.diagnostics)") }
            state.nodes = [node]
            return state
        }

        func cleanUp() async {
            if let driver = try? driver() {
                for container in (try? await driver.list()) ?? []
                where container.labels[OwnershipLabels.app]?.hasSuffix(suffix) ?? false {
                    try? await driver.remove(container.id)
                }
                try? await driver.removeVolume("counter-\(suffix)")
            }
            _ = ProcessWorkloads.endAll(under: state)
            try? FileManager.default.removeItem(atPath: state)
            await engine?.shutdownOffPool()
        }
    }

    /// Passes until the plan is empty; `each` sees the App's running replicas after every pass.
    static func converge(
        _ pass: Pass, _ desired: DesiredState, revision: String, driver: any ContainerDriver, app: String,
        previous: DesiredState? = nil, each: ([ContainerInfo]) -> Void = { _ in }
    ) async throws -> [String] {
        var summaries: [String] = []
        // What the controller's store would hold: the spec the App settled on before.
        let settled = Dictionary((previous?.apps ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for _ in 0..<40 {
            let result = await pass.run(
                desired: desired, revision: revision, dryRun: false, now: Date(), previous: settled)
            #expect(result.failures.isEmpty, "\(result.failures)")
            summaries += result.plan.changes.map(\.summary)
            each(try await driver.list().filter { $0.labels[OwnershipLabels.app] == app && $0.status == .running })
            if result.plan.actions.isEmpty { return summaries }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("\(app) did not converge")
        return summaries
    }

    static func running(_ driver: any ContainerDriver, app: String) async throws -> ContainerInfo {
        let replicas = try await driver.list().filter { $0.labels[OwnershipLabels.app] == app && $0.status == .running }
        return try #require(replicas.first)
    }

    /// Waits for a line of the replica's output.
    static func waitForLine(_ line: String, driver: any ContainerDriver, id: String) async throws -> Bool {
        for _ in 0..<100 {
            if try await driver.logs(id, since: nil).contains(where: { $0.text == line }) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// A counter in a named volume survives a rolling update (the old replica stops before the new
    /// one starts: never two at once) and a controller restart, and stays on the volume's node.
    @Test(.timeLimit(.minutes(3)), arguments: Backend.allCases)
    func aCounterInANamedVolumeKeepsCountingAcrossUpdatesAndRestarts(_ backend: Backend) async throws {
        let cluster = try await Cluster.start(backend)
        defer { Task { await cluster.cleanUp() } }
        let app = "counter-\(cluster.suffix)"
        func manifests(generation: Int) -> [String: String] {
            let script =
                "n=$(cat $ROOT/data/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > $ROOT/data/count; echo count=$n"
            return [
                "volume.yaml": "kind: Volume\nname: counter-\(cluster.suffix)\n",
                "app.yaml": """
                kind: App
                name: \(app)
                \(cluster.workload(script))
                env: { GENERATION: "\(generation)" }
                update: { stopGracePeriod: 2s }
                volumes:
                  - { name: counter-\(cluster.suffix), mount: /data }
                """,
            ]
        }
        var driver = try cluster.driver()
        var pass = Pass(nodes: [cluster.node], drivers: ["local": driver])
        _ = try await Self.converge(
            pass, try cluster.load(manifests(generation: 1)), revision: "1", driver: driver, app: app)
        #expect(try await Self.waitForLine("count=1", driver: driver, id: try await Self.running(driver, app: app).id))

        var most = 0
        let summaries = try await Self.converge(
            pass, try cluster.load(manifests(generation: 2)), revision: "2", driver: driver, app: app
        ) { most = max(most, $0.count) }
        #expect(most == 1, "an exclusive volume is never used by two replicas at once")
        #expect(summaries.contains { $0.contains("stop before start: volume counter-\(cluster.suffix) is not shared") })
        #expect(try await Self.waitForLine("count=2", driver: driver, id: try await Self.running(driver, app: app).id))

        // A restarted controller: new driver, new pass, the next revision.
        driver = try cluster.driver()
        pass = Pass(nodes: [cluster.node], drivers: ["local": driver])
        _ = try await Self.converge(
            pass, try cluster.load(manifests(generation: 3)), revision: "3", driver: driver, app: app)
        #expect(try await Self.waitForLine("count=3", driver: driver, id: try await Self.running(driver, app: app).id))
        await cluster.cleanUp()
    }

    /// A file from the repository arrives with its content and mode; a change to it rolls the App
    /// (and the plan names the file); a secret file has mode 0400 and its value is nowhere under the
    /// state directory.
    @Test(.timeLimit(.minutes(3)), arguments: Backend.allCases)
    func configFromGitAndSecretFilesReachTheContainer(_ backend: Backend) async throws {
        let cluster = try await Cluster.start(backend)
        defer { Task { await cluster.cleanUp() } }
        let app = "configured-\(cluster.suffix)"
        let secretValue = "s3cr3t-\(UUID().uuidString)"
        let secretFile = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(cluster.suffix)").path
        try secretValue.write(toFile: secretFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secretFile) }
        func manifests(config: String) -> [String: String] {
            // The replica reports what it finds: content and mode of both files.
            let script =
                "echo config=$(cat $ROOT/etc/app/config.yaml) mode=$(stat -L -c %a $ROOT/etc/app/config.yaml); "
                + "echo secret=$(md5sum < $ROOT/run/secrets/token | cut -c1-32) mode=$(stat -L -c %a $ROOT/run/secrets/token)"
            return [
                "config/app.yaml": config,
                "app.yaml": """
                kind: App
                name: \(app)
                \(cluster.workload(script))
                update: { stopGracePeriod: 2s }
                files:
                  - { path: /etc/app/config.yaml, from: config/app.yaml, mode: "0640" }
                  - { path: /run/secrets/token, secret: "file:\(secretFile)" }
                """,
            ]
        }
        let driver = try cluster.driver()
        let pass = Pass(nodes: [cluster.node], drivers: ["local": driver])
        let v1 = try cluster.load(manifests(config: "greeting: hello"))
        _ = try await Self.converge(pass, v1, revision: "1", driver: driver, app: app)
        var replica = try await Self.running(driver, app: app)
        // Process nodes keep the owner's bits only (the process's folder is private anyway).
        let mode = backend == .docker ? "640" : "600"
        #expect(try await Self.waitForLine("config=greeting: hello mode=\(mode)", driver: driver, id: replica.id))
        // The replica prints the secret's digest, never the secret: its output is collected like any log.
        #expect(try await Self.waitForLine("secret=\(try md5(secretValue)) mode=400", driver: driver, id: replica.id))

        let v2 = try cluster.load(manifests(config: "greeting: bonjour"))
        #expect(SpecHash.of(v1.apps[0]) != SpecHash.of(v2.apps[0]))
        let summaries = try await Self.converge(pass, v2, revision: "2", driver: driver, app: app, previous: v1)
        #expect(summaries.contains { $0.hasPrefix("app \(app): file /etc/app/config.yaml changed") }, "\(summaries)")
        replica = try await Self.running(driver, app: app)
        #expect(try await Self.waitForLine("config=greeting: bonjour mode=\(mode)", driver: driver, id: replica.id))

        // The secret's value: in no file under the state directory (the process driver's folders
        // and the replicas' output among them) and in no plan line.
        #expect(!summaries.joined().contains(secretValue))
        var scanned = 0
        var logs = 0
        let enumerator = FileManager.default.enumerator(atPath: cluster.state)
        while let path = enumerator?.nextObject() as? String {
            scanned += 1
            let full = cluster.state + "/" + path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) == nil,
                let data = FileManager.default.contents(atPath: full)
            else { continue }
            #expect(!String(decoding: data, as: UTF8.self).contains(secretValue), "secret found in \(path)")
            if path.hasSuffix("output.log") { logs += 1 }
        }
        #expect(scanned > 0)
        // On a process node the replicas' output is under the state directory, and was read.
        if backend == .process { #expect(logs > 0) }
        await cluster.cleanUp()
    }
}

extension VolumeAndFileTests {
    /// Three tasks of a run share its volume: the downstream reads what the upstream wrote; the
    /// volume exists while the run is under way and is removed once it succeeds.
    @Test(.timeLimit(.minutes(3)), arguments: Backend.allCases)
    func theTasksOfARunShareItsVolumeWhichGoesWhenTheRunSucceeds(_ backend: Backend) async throws {
        let cluster = try await Cluster.start(backend)
        defer { Task { await cluster.cleanUp() } }
        let name = "etl-\(cluster.suffix)"
        func step(_ script: String) -> String {
            let argv = "[\"/bin/sh\", \"-c\", \(jsonString("R=$FILES; " + script))]"
            return backend == .docker ? "image: reconcile-test/busybox:1\n    command: \(argv)" : "command: \(argv)"
        }
        let state = try cluster.load([
            "etl.yaml": """
            kind: DAG
            name: \(name)
            volumes:
              - { name: work, scope: run }
            defaults:
              volumes:
                - { name: work, mount: /work }
              resources: { cpu: 100m, memory: 32Mi }
            tasks:
              extract:
                \(step("echo 42 rows > $R/work/extracted.txt"))
              transform:
                \(step("echo transformed $(cat $R/work/extracted.txt) > $R/work/transformed.txt"))
                after: [extract]
              load:
                \(step("echo loaded: $(cat $R/work/transformed.txt)"))
                after: [transform]
            """
        ])
        let driver = try cluster.driver()
        let store = try Store(stateDirectory: cluster.state)
        let runner = DAGRunner(
            nodes: [cluster.node], drivers: ["local": driver], store: store, stateDirectory: cluster.state)
        let now = Date()
        try store.addRun(
            RunRecord(
                dag: name, runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        let volume = RunVolumeSpec.nodeName(dag: name, runID: "manual__1", volume: "work")
        var seenDuringRun = false
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, try store.runs(dag: name).first?.state == .running {
            _ = try await runner.run(desired: state, revision: "c1", now: Date())
            if try store.runs(dag: name).first?.state == .running, try await driver.volumes().contains(volume) {
                seenDuringRun = true
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let run = try #require(try store.runs(dag: name).first)
        #expect(run.state == .succeeded, "\(run.failure ?? "")")
        let load = try #require(try store.attempts(dag: name, runID: "manual__1").first { $0.task == "load" })
        let log = try String(contentsOfFile: try #require(load.logPath), encoding: .utf8)
        #expect(log == "loaded: transformed 42 rows\n")
        #expect(seenDuringRun)
        // Removed after the run succeeded (the engine may hold it a moment longer: later steps retry).
        var removed = false
        for _ in 0..<100 where !removed {
            _ = try await runner.run(desired: state, revision: "c1", now: Date())
            removed = try await !driver.volumes().contains(volume)
            if !removed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(removed, "the run's volume is removed after it succeeded")
        await cluster.cleanUp()
    }
}

/// The hex MD5 digest of `text`, from the host's md5sum.
func md5(_ text: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/md5sum")
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let digest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return String(digest.prefix(32))
}

/// A JSON string literal (also a YAML flow scalar).
func jsonString(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}

extension VolumeAndFileTests {
    /// A Volume removed from git keeps its data (retain) or has it deleted once no process uses it
    /// (reclaim: delete); the store remembers Volumes across controller restarts.
    @Test(.timeLimit(.minutes(2))) func aVolumeRemovedFromGitIsKeptOrDeletedAsItSays() async throws {
        let cluster = try await Cluster.start(.process)
        defer { Task { await cluster.cleanUp() } }
        let driver = try cluster.driver()
        let drivers: [String: any ContainerDriver] = ["local": driver]
        let kept = "kept-\(cluster.suffix)"
        let scratch = "scratch-\(cluster.suffix)"
        let both = DesiredState(
            nodes: [cluster.node],
            volumes: [VolumeSpec(name: kept), VolumeSpec(name: scratch, reclaim: .delete)])
        #expect(
            try await VolumeReclaim.run(
                desired: both, nodes: [cluster.node], drivers: drivers, store: try Store(stateDirectory: cluster.state)
            ).isEmpty)
        // A process writes into both, and keeps running with the scratch volume mounted.
        let writer = try await driver.run(
            ContainerSpec(
                name: "writer-\(cluster.suffix)",
                command: ["/bin/sh", "-c", "echo a > $FILES/k/data; echo b > $FILES/s/data; exec sleep 600"],
                mounts: [
                    ContainerMount(source: .volume(kept), target: "/k"),
                    ContainerMount(source: .volume(scratch), target: "/s"),
                ]))
        let volumes = cluster.state + "/volumes/"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: volumes + scratch + "/data") {
            try await Task.sleep(for: .milliseconds(50))
        }
        // Both leave git; a new Store, as after a controller restart, still knows them.
        let store = try Store(stateDirectory: cluster.state)
        let none = DesiredState(nodes: [cluster.node])
        let waiting = try await VolumeReclaim.run(desired: none, nodes: [cluster.node], drivers: drivers, store: store)
        #expect(
            waiting == [
                "- volume \(kept): removed from git; its data is kept on node local",
                "~ volume \(scratch): removed from git (reclaim: delete); waiting: volume is in use by process \(writer.id.prefix(12))",
            ])
        #expect(FileManager.default.fileExists(atPath: volumes + scratch + "/data"))
        try await driver.remove(writer.id)
        let deleted = try await VolumeReclaim.run(desired: none, nodes: [cluster.node], drivers: drivers, store: store)
        #expect(deleted == ["- volume \(scratch): removed from git (reclaim: delete); its data on local is deleted"])
        #expect(!FileManager.default.fileExists(atPath: volumes + scratch))
        #expect(try String(contentsOfFile: volumes + kept + "/data", encoding: .utf8) == "a\n")
        #expect(try store.knownVolumes().isEmpty)
        #expect(
            try await VolumeReclaim.run(desired: none, nodes: [cluster.node], drivers: drivers, store: store).isEmpty)
        await cluster.cleanUp()
    }
}
