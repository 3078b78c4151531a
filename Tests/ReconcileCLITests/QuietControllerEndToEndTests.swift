import Foundation
import ReconcileStore
import ReconcileTesting
import Testing

/// A settled controller skips its passes (an idle controller neither lists nor plans every tick),
/// and still acts at once on what can change the cluster: a replica that exits (its shim's exit
/// notice), a run triggered by the CLI (another process wrote the store) and one triggered through
/// the API (the request wakes it). The quiet span is 5 minutes here, so each of these would wait
/// minutes if its wake-up were missing.
@Suite struct QuietControllerEndToEndTests {
    @Test(.timeLimit(.minutes(4))) func aSettledControllerSkipsPassesButActsOnExitsTriggersAndTheAPI() async throws {
        let marker = "quiet-\(UUID().uuidString.prefix(8))"
        let setup = try PipelineOperationsEndToEndTests.Setup(
            PipelineOperationsEndToEndTests.node + """
                ---
                kind: App
                name: idle
                replicas: 2
                command: ["/bin/sh", "-c", "while :; do sleep 1; done", "\(marker)"]
                resources: { cpu: 100m, memory: 32Mi }
                ---
                kind: DAG
                name: once
                tasks:
                  hello: { command: ["/bin/sh", "-c", "echo hello"], resources: { cpu: 100m, memory: 32Mi } }

                """, name: "quiet")
        defer { try? FileManager.default.removeItem(at: setup.root) }
        let controller = try setup.controller(["--quiet-span", "5m"])
        defer { controller.signal(SIGTERM) }
        func replicas() throws -> [Int32] {
            try Command.run(["pgrep", "-f", marker]).stdout.split(separator: "\n").compactMap { Int32($0) }
        }
        #expect(try await setup.eventually(30) { try replicas().count == 2 }, "\(setup.log)")
        let remote = try await setup.remote()
        let port = try #require(remote[1].split(separator: ":").last.flatMap { Int($0) })

        // Settled: ticks (every 300 ms) run no pass.
        #expect(try await setup.eventually(30) { try await Self.metric("reconcile_quiet_ticks_total", port) ?? 0 >= 3 })
        let passes = try #require(try await Self.metric("reconcile_passes_total", port))
        let quiet = try #require(try await Self.metric("reconcile_quiet_ticks_total", port))
        try await Task.sleep(for: .seconds(3))
        #expect(try await Self.metric("reconcile_passes_total", port) == passes)
        #expect(try #require(try await Self.metric("reconcile_quiet_ticks_total", port)) >= quiet + 5)

        // A replica killed outside: its exit ends the quiet spell, and it is replaced at once.
        let victim = try #require(try replicas().first)
        kill(victim, SIGKILL)
        #expect(
            try await setup.eventually(60) {
                let now = try replicas(); return now.count == 2 && !now.contains(victim)
            },
            "\(setup.log)")

        // A run triggered by the CLI (it writes the store itself) and one through the API.
        let local = try await setup.cli(["dags", "trigger", "once"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(try await setup.eventually(60) { try setup.latest("once")?.state == .succeeded }, "\(setup.log)")
        let first = try #require(try setup.latest("once")).runID
        try await Task.sleep(for: .seconds(1.1))  // manual run ids are per second
        let api = try await setup.cli(["dags", "trigger", "once"] + remote)
        #expect(api.status == 0, "\(api.stderr)")
        #expect(
            try await setup.eventually(60) {
                let run = try setup.latest("once")
                return run?.runID != first && run?.state == .succeeded
            }, "\(setup.log)")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }

    /// A counter or gauge from the controller's /metrics.
    static func metric(_ name: String, _ port: Int) async throws -> Double? {
        let body = try await ControllerAPITests.request("http://127.0.0.1:\(port)/metrics").body
        return body.split(separator: "\n").first { $0.hasPrefix(name + " ") }?
            .split(separator: " ").last.flatMap { Double($0) }
    }
}
