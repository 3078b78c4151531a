import Foundation
import ReconcileDrivers
import ReconcileTesting
import Testing

@Suite struct ControllerCLITests {
    /// `reconcile controller` on a git repository with a process node: the App comes up behind its
    /// published port; a broken commit is reported and skipped while the App keeps serving; a fixed
    /// commit with two replicas is applied; SIGTERM stops the controller with exit 0.
    @Test(.timeLimit(.minutes(3))) func theControllerServesKeepsTheLastValidCommitAndStopsOnSIGTERM() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-ctl-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        let publish = try Loopback.freePort()
        func app(replicas: Int) -> String {
            """
            kind: App
            name: hello
            command: ["/bin/sh", "-c", "exec /usr/bin/python3 -m http.server --bind 127.0.0.1 \\"$PORT_8000\\""]
            replicas: \(replicas)
            resources: { cpu: 100m, memory: 64Mi }
            ports:
              - { name: http, container: 8000, publish: \(publish) }
            health:
              http: { port: http, path: /, expect: 200 }
              interval: 1s
            update: { stopGracePeriod: 2s }

            """
        }
        let node = "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 2, memory: 1Gi }\n"
        try node.write(to: repository.appendingPathComponent("node.yaml"), atomically: true, encoding: .utf8)
        try app(replicas: 1).write(to: repository.appendingPathComponent("app.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "one replica"], in: repository)

        let output = root.appendingPathComponent("controller.log")
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "500ms",
            ], output: output.path, endsWorkloadsUnder: state)
        defer { try? FileManager.default.removeItem(at: root) }
        func logText() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        func eventually(_ seconds: TimeInterval, _ condition: () -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return condition()
        }
        func get() -> String? {
            // A plain HTTP/1.0 request through the router; the answer's status line.
            let result = try? Command.run([
                "python3", "-c",
                "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)",
                "http://127.0.0.1:\(publish)/",
            ])
            return result?.status == 0 ? result?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
        }

        #expect(try await eventually(60) { get() == "200" }, "the published port never answered:\n\(logText())")
        #expect(logText().contains("+ app hello: 1 replica -> here"))

        try "kind: App\nname: hello\nreplicas: many\n".write(
            to: repository.appendingPathComponent("app.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "broken"], in: repository)
        #expect(try await eventually(30) { logText().contains("app.yaml:3:11: error:") })
        #expect(logText().contains("is invalid; keeping the last valid one"))
        #expect(get() == "200", "the App stopped serving after an invalid commit")

        try app(replicas: 2).write(to: repository.appendingPathComponent("app.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "two replicas"], in: repository)
        #expect(try await eventually(30) { logText().contains("~ app hello: replicas 1 -> 2") }, "\(logText())")

        controller.signal(SIGTERM)
        let status = await controller.wait(timeout: 60)
        #expect(status == 0, "the controller ended with \(String(describing: status)) after SIGTERM")
        #expect(logText().hasSuffix("controller stopped\n"))
        #expect(!Loopback.canConnect(port: publish), "the published port still listens after the controller stopped")

        // The App's processes outlive the controller by design; remove them.
        let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
        for container in try await driver.list() { try await driver.remove(container.id) }
    }
}
