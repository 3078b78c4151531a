import Foundation
import ReconcileStore
import ReconcileTesting
import Testing

/// `reconcile explain` through a running controller and from its state directory: a replica's
/// placement, a task queued for room, a task waiting on a retry, an incident whose notice fails.
@Suite struct ExplainCLITests {
    @Test(.timeLimit(.minutes(3))) func explainAnswersWhyForAppsTasksAndIncidents() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("explain-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let refusing = try Loopback.refusingPort()
        defer { close(refusing.descriptor) }
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 1, memory: 1Gi }
            ---
            kind: App
            name: web
            command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
            resources: { cpu: 600m, memory: 64Mi }
            ---
            kind: DAG
            name: etl
            tasks:
              flaky:
                command: ["/bin/sh", "-c", "exit 3"]
                resources: { cpu: 100m, memory: 32Mi }
                retries: 1
                retryDelay: 1h
              heavy:
                command: ["/bin/sh", "-c", "echo never"]
                resources: { cpu: 500m, memory: 32Mi }
            ---
            kind: Check
            name: disk
            command: ["/bin/sh", "-c", "echo CRITICAL - disk full; exit 2"]
            interval: 1s
            failAfter: 1
            alerts: [mail]
            ---
            kind: Notifier
            name: mail
            email:
              to: [ops@example.com]
              from: reconcile@example.com
              smtp: { host: 127.0.0.1, port: \(refusing.port), starttls: false }

            """
        let tokenReference = try TestSecrets.file("explain-token-\(UUID().uuidString)")
        let controller = try TestController.start(
            root: root, manifests: manifests, token: tokenReference)
        let port = try #require(await controller.port(), "\(controller.log)")
        let remote = ["--controller", "http://127.0.0.1:\(port)", "--api-token", tokenReference]
        let state = controller.state
        let store = try Store(stateDirectory: state)

        // The replica, placed on the one node: its score, recorded when it was placed.
        var app = ""
        let placed = await AlertsEndToEndTests.eventually(60) {
            app = (try? await CLITests.run(["explain", "app/web"] + remote)).map { $0.stdout + $0.stderr } ?? app
            return app.contains("replica 0 on here: ready")
        }
        #expect(placed, "\(app)\n\(controller.log)")
        #expect(app.contains("    chosen: 40% cpu and 94% memory left"), "\(app)")
        #expect(app.contains("plan: nothing to do (in sync)"), "\(app)")
        let json = try await CLITests.run(["explain", "app/web", "--output", "json"] + remote)
        #expect(json.stdout.contains("\"node\" : \"here\""), "\(json.stdout)")
        let local = try await CLITests.run(["explain", "app/web", "--state", state])
        #expect(local.status != 0)
        #expect(local.stderr.contains("explain app reads the controller's last pass: add --controller URL"))

        // Tasks: heavy waits for the room web holds; flaky failed and waits for its retry.
        let trigger = try await CLITests.run(["dags", "trigger", "etl"] + remote)
        #expect(trigger.status == 0, "\(trigger.stderr)")
        #expect(await AlertsEndToEndTests.eventually(30) { (try? store.runs(dag: "etl").first) != nil })
        let runID = try #require(try store.runs(dag: "etl").first?.runID)
        var flaky = ""
        let retrying = await AlertsEndToEndTests.eventually(30) {
            flaky =
                (try? await CLITests.run(["explain", "task", "etl/\(runID)/flaky", "--state", state])).map {
                    $0.stdout + $0.stderr
                } ?? flaky
            return flaky.contains(": retrying")
        }
        #expect(retrying, "\(flaky)\n\(controller.log)")
        #expect(flaky.contains("  try 2 at "), "\(flaky)")
        #expect(flaky.contains("    try 1: failed exit 3 on here"), "\(flaky)")
        let heavy = try await CLITests.run(["explain", "task", "etl/\(runID)/heavy"] + remote)
        #expect(heavy.status == 0, "\(heavy.stderr)")
        #expect(heavy.stdout.contains("task heavy of etl \(runID): queued"), "\(heavy.stdout)")
        #expect(
            heavy.stdout.contains("  queued for room: needs cpu 500m, largest free is 400m (here)"), "\(heavy.stdout)")
        #expect(heavy.stdout.contains("    here: needs cpu 500m, 400m free"), "\(heavy.stdout)")
        // `runs show` carries the same reason.
        let show = try await CLITests.run(["runs", "show", "etl/\(runID)", "--state", state])
        #expect(show.stdout.contains("    heavy: queued for room: needs cpu 500m"), "\(show.stdout)")

        // The incident: its notice cannot be delivered (the SMTP port refuses) and says so.
        var incident = ""
        let failing = await AlertsEndToEndTests.eventually(60) {
            incident =
                (try? await CLITests.run(["explain", "incident", "check/disk"] + remote)).map { $0.stdout + $0.stderr }
                ?? incident
            return incident.contains("last error:")
        }
        #expect(failing, "\(incident)\n\(controller.log)")
        #expect(incident.contains("incident check/disk: open"), "\(incident)")
        #expect(incident.contains("settle time "), "\(incident)")
        #expect(incident.contains("firing to mail at "), "\(incident)")
        #expect(incident.contains(": retrying"), "\(incident)")
        controller.process.signal(SIGTERM)
        #expect(await controller.process.wait(timeout: 60) == 0, "\(controller.log)")
        let unknown = try await CLITests.run(["explain", "incident", "check/none", "--state", state])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no incident or notice for check/none"), "\(unknown.stderr)")
    }
}
