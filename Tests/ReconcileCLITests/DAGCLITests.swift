import Foundation
import ReconcileDrivers
import ReconcileTesting
import Testing

@Suite struct DAGCLITests {
    /// On a process node under `reconcile controller`: a triggered run whose middle task always fails
    /// (after its retry) fails with its downstream upstreamFailed; after a commit that fixes the task,
    /// `reconcile rerun RUN --failed` runs only the failed task and what was blocked below it.
    @Test(.timeLimit(.minutes(3))) func aFailedRunContinuesAfterAFixWithRerunFailed() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-dag-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        func dag(transform: String) -> String {
            """
            kind: DAG
            name: etl
            tasks:
              extract:
                command: ["/bin/sh", "-c", "echo extracted ${LOGICAL_DATE}"]
              transform:
                after: [extract]
                command: ["/bin/sh", "-c", "\(transform)"]
                retries: 1
                retryDelay: 1s
              load:
                after: [transform]
                command: ["/bin/sh", "-c", "echo loaded"]

            """
        }
        let node = "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 2, memory: 1Gi }\n"
        try node.write(to: repository.appendingPathComponent("node.yaml"), atomically: true, encoding: .utf8)
        try dag(transform: "exit 3").write(
            to: repository.appendingPathComponent("dag.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "broken transform"], in: repository)

        let output = root.appendingPathComponent("controller.log").path
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "300ms",
            ], output: output)
        func eventually(_ seconds: TimeInterval, _ condition: () throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return try condition()
        }
        func runState() throws -> String? {
            let listed = try CLITests.run(["runs", "list", "etl", "--state", state, "--output", "json"])
            let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: String]]
            return rows?.first?["state"]
        }

        let trigger = try CLITests.run(["dags", "trigger", "etl", "--state", state])
        #expect(trigger.status == 0, "\(trigger.stderr)")
        let runID = try #require(trigger.stdout.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        #expect(try await eventually(60) { try runState() == "failed" }, "\(String(describing: try? runState()))")
        let failedShow = try CLITests.run(["runs", "show", runID, "--state", state])
        #expect(
            failedShow.stdout.contains(
                "dag etl run \(runID) failed: task transform failed after 2 tries (exit 3); "
                    + "not run (upstream failed): load"), "\(failedShow.stdout)")

        try dag(transform: "echo transformed").write(
            to: repository.appendingPathComponent("dag.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "fix transform"], in: repository)
        try await Task.sleep(for: .seconds(2))  // the controller's next poll takes the fix
        let rerun = try CLITests.run(["rerun", "etl/\(runID)", "--failed", "--state", state])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("transform will run again"))
        #expect(try await eventually(60) { try runState() == "succeeded" }, "\(String(describing: try? runState()))")

        let show = try CLITests.run(["runs", "show", runID, "--state", state]).stdout
        let lines = show.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        // extract ran once; transform's two failed tries are history and try 3 succeeded; load ran once.
        #expect(lines.filter { $0.hasPrefix("try ") }.count == 5, "\(show)")
        #expect(lines.contains { $0.hasPrefix("try 1: failed exit 3") && $0.hasSuffix("[cleared by rerun]") })
        #expect(lines.contains { $0.hasPrefix("try 3: succeeded exit 0") })
        #expect(show.contains("etl-\(runID.replacingOccurrences(of: ":", with: "_"))-load-1"))

        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 15) == 0)
        let missing = try CLITests.run(["rerun", "nope", "--failed", "--state", state])
        #expect(missing.status != 0)
        #expect(
            missing.stderr.contains("no run nope in \(state); `reconcile runs list --state \(state)` shows the runs"))
        #expect(!missing.stderr.contains("Usage:"))
        let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
        for container in try await driver.list() { try await driver.remove(container.id) }
    }
}
