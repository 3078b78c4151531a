import Foundation
import ReconcileTesting
import Testing

/// `reconcile nodes drain|uncordon` on the state directory, and a one-shot pass that honours it.
@Suite struct NodesCLITests {
    @Test(.timeLimit(.minutes(2))) func aDrainHoldsForADryRunAndUncordonEndsIt() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-nodes-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("repo")
        let state = root.appendingPathComponent("state").path
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: App
            name: ticker
            command: ["/bin/sh", "-c", "sleep 3600"]

            """
        try manifests.write(to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "ticker"], in: repository)
        let git = ["--repo", repository.path, "--state", state]

        let unknown = try await CLITests.run(["nodes", "drain", "nope"] + git)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no node nope; nodes: here"), "\(unknown.stderr)")
        let badDeadline = try await CLITests.run(["nodes", "drain", "here", "--deadline", "soon"] + git)
        #expect(badDeadline.status == 1)
        #expect(badDeadline.stderr.contains("deadline: "), "\(badDeadline.stderr)")

        let drain = try await CLITests.run(["nodes", "drain", "here"] + git)
        #expect(drain.status == 0, "\(drain.stderr)")
        #expect(drain.stdout == "here: draining; the controller moves its replicas on its next pass\n")
        let planned = try await CLITests.run(["--dry-run"] + git)
        #expect(planned.status == 2, "\(planned.stdout) \(planned.stderr)")
        #expect(
            planned.stdout.contains(
                "! app ticker: 1 replica unplaceable: every node that can run it is draining (here); "
                    + "uncordon one or add a node"), "\(planned.stdout)")

        let uncordon = try await CLITests.run(["nodes", "uncordon", "here"] + git)
        #expect(uncordon.stdout == "here: schedulable\n", "\(uncordon.stderr)")
        let replanned = try await CLITests.run(["--dry-run"] + git)
        #expect(replanned.stdout.contains("+ app ticker: 1 replica -> here"), "\(replanned.stdout)")
    }
}
