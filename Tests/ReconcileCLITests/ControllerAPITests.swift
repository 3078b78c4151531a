import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import ReconcileDrivers
import ReconcileStore
import ReconcileTesting
import Testing

/// `reconcile controller`'s HTTP server over real HTTP: health, metrics, push webhooks and the API,
/// and the CLI answering the same through the API as from the state directory.
@Suite struct ControllerAPITests {
    static func request(
        _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: data))
    }

    @Test(.timeLimit(.minutes(4))) func webhooksTheAPIAndMetricsOverHTTP() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let token = "token-\(UUID().uuidString)"
        let secret = "hook-\(UUID().uuidString)"
        let tokenReference = try TestSecrets.file(token)
        let secretReference = try TestSecrets.file(secret)
        func manifests(replicas: Int) -> String {
            """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 4, memory: 2Gi }
            ---
            kind: App
            name: ticker
            command: ["/bin/sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
            replicas: \(replicas)
            resources: { cpu: 100m, memory: 32Mi }
            ---
            kind: DAG
            name: etl
            tasks:
              extract:
                command: ["/bin/sh", "-c", "echo extracted"]
              load:
                after: [extract]
                command: ["/bin/sh", "-c", "echo loaded"]
            ---
            kind: Check
            name: disk
            command: ["/bin/sh", "-c", "echo DISK OK"]
            interval: 1s

            """
        }
        let repository = try AlertsEndToEndTests.repository(at: root, manifests: manifests(replicas: 1))
        let state = root.path + "/state"
        let output = root.path + "/controller.log"
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1h",
                "--tick", "500ms", "--listen", "127.0.0.1:0", "--api-token", tokenReference,
                "--webhook-secret", secretReference,
            ], output: output, endsWorkloadsUnder: state)
        let log = { DAGCLITests.contents(output) }
        #expect(await AlertsEndToEndTests.eventually(30) { log().contains("api: listening on http://127.0.0.1:") })
        let port = try #require(
            log().split(separator: "\n").first { $0.contains("api: listening on") }?.split(separator: ":").last.flatMap
            {
                Int($0)
            })
        let base = "http://127.0.0.1:\(port)"

        // Health needs no token; the API needs the right one.
        #expect(try await Self.request(base + "/healthz").status == 200)
        #expect(try await Self.request(base + "/api/v1/status").status == 401)
        #expect(
            try await Self.request(base + "/api/v1/runs", headers: [("Authorization", "Bearer wrong")]).status == 401)
        let auth = [("Authorization", "Bearer \(token)")]
        var ready = false
        for _ in 0..<150 where !ready {
            ready =
                (try? await Self.request(base + "/api/v1/status", headers: auth))?.body.contains("\"ready\":1") == true
            if !ready { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(ready, "\(log())")

        // The CLI through the API: a trigger, then the same answers as from the state directory.
        let remote = ["--controller", base, "--api-token", tokenReference]
        let trigger = try await CLITests.run(["dags", "trigger", "etl", "--state", state] + remote)
        #expect(trigger.status == 0, "\(trigger.stderr)")
        let store = try Store(stateDirectory: state)
        #expect(await AlertsEndToEndTests.eventually(30) { (try? store.runs(dag: "etl").first?.state) == .succeeded })
        let runID = try #require(try store.runs(dag: "etl").first?.runID)
        // Ticks 0-4 are collected (the grep below compares them), waited for rather than slept on.
        #expect(
            await AlertsEndToEndTests.eventually(30) {
                (try? await CLITests.run(["logs", "ticker", "--grep", "tick 5$", "--state", state]))?.status == 0
            })
        for command in [
            ["runs", "list"], ["runs", "show", "etl/\(runID)"], ["dags", "list"], ["logs", "etl/load"],
            ["logs", "ticker", "--grep", "tick [0-4]$"], ["alerts", "list"],
        ] {
            let local = try await CLITests.run(command + ["--state", state])
            let viaAPI = try await CLITests.run(command + ["--state", state] + remote)
            #expect(local.status == 0, "\(command): \(local.stderr)")
            #expect(viaAPI.status == 0, "\(command): \(viaAPI.stderr)")
            if command.first == "alerts" {
                // Check times move between the two reads: compare the lines without them.
                let strip = { (text: String) in
                    text.replacingOccurrences(of: #" \(\d{4}-[^)]*\)"#, with: "", options: .regularExpression)
                }
                #expect(strip(local.stdout) == strip(viaAPI.stdout), "\(command)")
            } else {
                #expect(local.stdout == viaAPI.stdout, "\(command)\n\(local.stdout)\n---\n\(viaAPI.stdout)")
            }
        }
        // `reconcile status`, from the state directory and through the API: the same screen (the
        // checks' message times aside), each line marked ok.
        for source in [["--state", state], ["--state", state] + remote] {
            let status = try await CLITests.run(["status"] + source)
            #expect(status.status == 0, "\(status.stderr)")
            let lines = status.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("reconcile status (commit ") == true, "\(status.stdout)")
            #expect(lines.contains { $0.hasPrefix("  ok ticker: 1/1 ready (revision ") }, "\(status.stdout)")
            #expect(lines.contains { $0.hasPrefix("  ok here: 100m/4000m cpu") }, "\(status.stdout)")
            #expect(
                lines.contains { $0.hasPrefix("  ok etl: last \(runID) succeeded; manual; 0 active") },
                "\(status.stdout)")
            #expect(lines.contains("  ok disk: OK: DISK OK"), "\(status.stdout)")
            #expect(lines.last == "incidents: none open", "\(status.stdout)")
            let json = try await CLITests.run(["status", "--output", "json"] + source)
            let view = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let apps = try #require(view["apps"] as? [[String: Any]])
            #expect(apps.first?["name"] as? String == "ticker")
            #expect(apps.first?["ready"] as? Int == 1)
        }

        // `logs --follow` keeps printing lines collected after it started, locally and via the API.
        for (index, source) in [["--state", state], ["--state", state] + remote].enumerated() {
            let followed = root.path + "/follow-\(index).txt"
            let follower = try ChildProcess(
                [CLITests.binary.path, "logs", "ticker", "--follow"] + source, output: followed)
            func ticks() -> [Int] {
                DAGCLITests.contents(followed).split(separator: "\n").compactMap {
                    $0.hasPrefix("tick ") ? Int($0.dropFirst(5)) : nil
                }
            }
            #expect(await AlertsEndToEndTests.eventually(30) { !ticks().isEmpty }, "\(DAGCLITests.contents(followed))")
            let first = ticks().max() ?? 0
            // Ten more ticks (two seconds of the App's output) arrive while it follows.
            #expect(
                await AlertsEndToEndTests.eventually(30) { (ticks().max() ?? 0) >= first + 10 },
                "\(DAGCLITests.contents(followed).suffix(500))")
            follower.signal(SIGTERM)
            _ = await follower.wait(timeout: 10)
            // In order, each line once.
            let seen = ticks()
            if seen != Array(seen[0]...seen[seen.count - 1]) {
                // Say whether the lines are missing from what was collected or only from the follow.
                let stored = try await CLITests.run(["logs", "ticker", "--state", state, "--timestamps"])
                let collected = stored.stdout.split(separator: "\n").suffix(60).joined(separator: "\n")
                let how = index == 0 ? "from the state directory" : "through the API"
                Issue.record(Comment(rawValue: "follow \(how) printed \(seen); collected:\n\(collected)"))
            }
        }
        // Drain through the API: the controller's next pass shows the node draining (status and
        // `nodes list`); an unknown node is refused with the known ones; uncordon ends it.
        let drain = try await CLITests.run(["nodes", "drain", "here", "--deadline", "10m"] + remote)
        #expect(drain.status == 0, "\(drain.stderr)")
        #expect(drain.stdout.hasPrefix("here: draining until "), "\(drain.stdout)")
        let unknownNode = try await CLITests.run(["nodes", "drain", "nope"] + remote)
        #expect(unknownNode.status == 1)
        #expect(unknownNode.stderr.contains("no node nope; nodes: here"), "\(unknownNode.stderr)")
        #expect(
            await AlertsEndToEndTests.eventually(30) {
                let listed = try? await CLITests.run(["nodes", "list"] + remote)
                return listed?.stdout.hasPrefix("here\tdrained (deadline ") == true
            })
        let drainedStatus = try await CLITests.run(["status"] + remote)
        #expect(drainedStatus.stdout.contains("; drained (deadline "), "\(drainedStatus.stdout)")
        let uncordon = try await CLITests.run(["nodes", "uncordon", "here"] + remote)
        #expect(uncordon.stdout == "here: schedulable\n", "\(uncordon.stdout) \(uncordon.stderr)")
        #expect(
            await AlertsEndToEndTests.eventually(30) {
                let listed = try? await CLITests.run(["nodes", "list"] + remote)
                return listed?.stdout == "here\tschedulable\n"
            })
        let silenced = try await CLITests.run(["alerts", "silence", "disk", "--for", "1h", "--state", state] + remote)
        #expect(silenced.stdout.hasPrefix("check/disk: silenced until "), "\(silenced.stderr)")
        let silences = try await Self.request(base + "/api/v1/silences", headers: auth)
        #expect(silences.status == 200)
        #expect(silences.body.hasPrefix(#"[{"key":"check\/disk","until":"#), "\(silences.body)")
        let badToken = try await CLITests.run(
            ["runs", "list", "--controller", base, "--api-token", secretReference])
        #expect(badToken.status == 1)
        #expect(badToken.stderr.contains("refused the API token (401)"), "\(badToken.stderr)")

        let appliedCommits = { log().components(separatedBy: " apps, ").count - 1 }
        #expect(appliedCommits() == 1)
        // Push webhooks: wrong or missing signatures are refused; a valid push is polled at once
        // (the interval is an hour).
        try manifests(replicas: 2).write(
            to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "two tickers"], in: repository)
        let body = Array(#"{"ref":"refs/heads/main"}"#.utf8)
        let key = SymmetricKey(data: Array(secret.utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }
            .joined()
        let hook = base + "/hooks/git"
        #expect(try await Self.request(hook, method: .POST, body: body).status == 401)
        #expect(
            try await Self.request(hook, method: .POST, headers: [("X-Hub-Signature-256", "sha256=00ff")], body: body)
                .status == 401)
        #expect(
            try await Self.request(hook, method: .POST, headers: [("X-Gitlab-Token", "nope")], body: body).status == 401
        )
        #expect(
            try await Self.request(
                hook, method: .POST,
                headers: [("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", "sha256=\(signature)")], body: body
            ).status == 200)
        #expect(!log().contains("body") && !log().contains("refs/heads/main"), "the payload is never logged")
        let pushed = try await Self.request(
            hook, method: .POST, headers: [("X-GitHub-Event", "push"), ("X-Hub-Signature-256", "sha256=\(signature)")],
            body: body)
        #expect(pushed.status == 202)
        // Any wait far below the hour tells "polled on the push" from "polled on the interval".
        #expect(await AlertsEndToEndTests.eventually(120) { appliedCommits() == 2 }, "\(log())")
        #expect(
            try await Self.request(hook, method: .POST, headers: [("X-Gitlab-Token", secret)], body: body).status == 202
        )
        #expect(
            try await Self.request(hook, method: .POST, headers: [("X-Gitea-Signature", signature)], body: body).status
                == 202)

        // Metrics parse with Prometheus' own parser.
        let metrics = try await Self.request(base + "/metrics")
        #expect(metrics.status == 200)
        // The build: version and the commit the binary was built from.
        let build = metrics.body.split(separator: "\n").first { $0.hasPrefix("reconcile_build_info{") } ?? ""
        let commit = build.split(separator: "commit=\"").dropFirst().first?.prefix(40) ?? ""
        #expect(build.contains("version=\"0.2.0\"") && (build.hasSuffix(" 1") || build.hasSuffix(" 1.0")), "\(build)")
        #expect(commit.count == 40 && commit.allSatisfy(\.isHexDigit), "\(build)")
        // This repository's HEAD, or an ancestor for a binary built before the last commits.
        let ancestor = try Command.run([
            "git", "-C", CLITests.packageRoot.path, "merge-base", "--is-ancestor", String(commit), "HEAD",
        ])
        #expect(ancestor.status == 0, "\(build)")
        let file = root.path + "/metrics.txt"
        try metrics.body.write(toFile: file, atomically: true, encoding: .utf8)
        let parsed = try Command.run([
            "/usr/bin/python3", "-c",
            """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    print(sample.name, sample.value)
            """, file,
        ])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let samples = parsed.stdout.split(separator: "\n")
        for name in [
            "reconcile_passes_total", "reconcile_pass_duration_seconds_count", "reconcile_task_handoff_seconds_count",
            "reconcile_dag_runs", "reconcile_app_replicas_ready", "reconcile_check_results_total",
            "reconcile_webhook_pushes_total", "reconcile_webhook_rejected_total", "reconcile_node_schedulable",
        ] {
            #expect(samples.contains { $0.hasPrefix(name + " ") }, "\(name) missing from \(samples.prefix(80))")
        }
        #expect(samples.contains("reconcile_webhook_pushes_total 3.0"), "\(samples.filter { $0.contains("webhook") })")
        #expect(samples.contains("reconcile_webhook_rejected_total 3.0"))

        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 30) == 0)
        let shim = CLITests.binary.deletingLastPathComponent().appendingPathComponent("reconcile-shim").path
        let driver = try ProcessDriver(node: "here", stateDirectory: state, shimPath: shim)
        for container in try await driver.list() { try await driver.remove(container.id) }
    }
}

@Suite struct ControllerLogFormatTests {
    /// `--log-format json`: every line the controller writes is one JSON object.
    @Test(.timeLimit(.minutes(2))) func jsonLogsAreOneObjectPerLine() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("jsonlog-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = try AlertsEndToEndTests.repository(
            at: root, manifests: "kind: Node\nname: here\nprocess: {}\ncapacity: { cpu: 1, memory: 1Gi }\n")
        let output = root.path + "/controller.log"
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", root.path + "/state",
                "--listen", "127.0.0.1:0", "--log-format", "json", "--tick", "300ms",
            ], output: output, endsWorkloadsUnder: root.path + "/state")
        #expect(await AlertsEndToEndTests.eventually(30) { DAGCLITests.contents(output).contains("0 apps, 0 DAGs") })
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 30) == 0)
        let lines = DAGCLITests.contents(output).split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["time"] != nil && object?["level"] != nil && object?["message"] != nil, "\(line)")
        }
        #expect(lines.last?.contains("\"message\":\"controller stopped\"") == true)
    }
}
