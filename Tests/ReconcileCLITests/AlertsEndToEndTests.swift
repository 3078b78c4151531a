import Foundation
import ReconcileStore
import ReconcileTesting
import Testing

/// Checks and notifications under `reconcile controller`, delivered to a real SMTP server
/// (Tests/oracles/smtp_receiver.py on Debian's python3-aiosmtpd, every delivery kept) and a loopback webhook receiver.
@Suite struct AlertsEndToEndTests {
    static let python = "/usr/bin/python3"

    /// Where the notifiers send: the SMTP server's port and the webhook receiver's (each bound by
    /// the server itself, or reserved by the test), and where the webhook receiver saves posts.
    struct Receivers {
        let smtpPort: Int
        let webhookPort: Int
        let hooks: String

        func posts() -> [String] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: hooks)) ?? []).filter {
                $0.hasSuffix(".json")
            }.sorted()
            return names.compactMap { try? String(contentsOfFile: hooks + "/" + $0, encoding: .utf8) }
        }
    }

    /// The webhook receiver (Tests/oracles/webhook_receiver.py) on a port of its own.
    static func startWebhookReceiver(hooks: String, log: String) async throws -> LoopbackServer {
        try await LoopbackServer.start(
            [
                python, CLITests.packageRoot.appendingPathComponent("Tests/oracles/webhook_receiver.py").path, "0",
                hooks,
            ], output: log)
    }

    static func notifiers(_ receivers: Receivers) -> String {
        """
        kind: Notifier
        name: mail
        email:
          to: [ops@example.com]
          from: reconcile@example.com
          smtp: { host: 127.0.0.1, port: \(receivers.smtpPort), starttls: false }
        repeatInterval: 1h
        ---
        kind: Notifier
        name: chat
        webhook: { url: "http://127.0.0.1:\(receivers.webhookPort)/hook", format: slack }
        repeatInterval: 1h
        sendResolved: true

        """
    }

    static func eventually(_ seconds: TimeInterval, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    static func repository(at root: URL, manifests: String) throws -> URL {
        let repository = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        try manifests.write(to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["init", "-q", "-b", "main"], in: repository)
        try ValidateRepositoryCLITests.git(["add", "-A"], in: repository)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-m", "alerts"], in: repository)
        return repository
    }

    /// A busybox App on a real dockerd logs its success line: the log check passes. The line stops:
    /// after failAfter intervals the check fails and one email and one Slack post say so. The line
    /// comes back: one resolved notice each, and nothing more.
    /// Runs alone among the heavy end-to-end tests (see HeavyTests).
    @Test(.timeLimit(.minutes(15))) func aLogCheckFailsNotifiesOnceAndResolves() async throws {
        try await HeavyTests.exclusive { try await aLogCheckFailsNotifiesOnceAndResolvesAlone() }
    }

    func aLogCheckFailsNotifiesOnceAndResolvesAlone() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let smtp = try await SMTPReceiver.start(folder: root.path + "/smtp")
        let webhook = try await Self.startWebhookReceiver(hooks: root.path + "/hooks", log: root.path + "/webhook.log")
        let receivers = Receivers(smtpPort: smtp.port, webhookPort: webhook.port, hooks: root.path + "/hooks")
        let manifests =
            """
            kind: Node
            name: docker
            docker: \(engine.endpoint)
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: App
            name: collector
            image: \(TestImage.name)
            command: ["/bin/sh", "-c", "i=0; while true; do if [ -s /stop ]; then echo idle; else echo \\"processed $i events\\"; fi; i=$((i+1)); sleep 0.5; done"]
            resources: { cpu: 100m, memory: 32Mi }
            ---
            kind: Check
            name: collector-processing
            app: collector
            logs: { match: 'processed \\d+ events', within: 2s }
            interval: 1s
            timeout: 5s
            failAfter: 2
            passAfter: 1
            alerts: [mail, chat]
            ---

            """ + Self.notifiers(receivers)
        let repository = try Self.repository(at: root, manifests: manifests)
        let state = root.path + "/state"
        let output = root.path + "/controller.log"
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "5s",
                "--tick", "500ms", "--heartbeat-url", "http://127.0.0.1:\(receivers.webhookPort)/beat",
            ], output: output, endsWorkloadsUnder: state)
        let store = try Store(stateDirectory: state)
        func checkPasses() throws -> Bool? {
            guard let state = try store.checkStates()["collector-processing"], state.lastRun != nil else { return nil }
            return !state.failing
        }
        #expect(
            try await Self.eventually(60) {
                try checkPasses() == true && store.checkStates()["collector-processing"]!.message.contains("matched")
            },
            "\(DAGCLITests.contents(output))")
        #expect(smtp.deliveries().isEmpty)

        // The line stops.
        let container = try Command.run([
            "docker", "-H", engine.endpoint, "ps", "-q", "--filter", "label=io.reconcile.app=collector",
        ]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!container.isEmpty)
        let stop = try Command.run(["docker", "-H", engine.endpoint, "exec", container, "sh", "-c", "echo x > /stop"])
        #expect(stop.status == 0, "\(stop.stdout) \(stop.stderr)")
        #expect(
            await Self.eventually(30) { smtp.deliveries().count == 1 && receivers.posts().count == 1 },
            "\(DAGCLITests.contents(output))")
        let firing = try #require(smtp.deliveries().first)
        #expect(firing.contains("Subject: [FIRING critical] check/collector-processing"), "\(firing)")
        #expect(firing.contains("no line matched /processed \\d+ events/ in the last 2s"), "\(firing)")
        #expect(firing.contains("lines from app collector; last match 20"), "\(firing)")
        #expect(firing.contains("Message-ID: <check.collector-processing."), "\(firing)")
        let post = try #require(receivers.posts().first)
        let slack = try #require(try JSONSerialization.jsonObject(with: Data(post.utf8)) as? [String: String])
        #expect(slack["text"]?.contains("[FIRING critical] check/collector-processing") == true, "\(post)")
        let listed = try await CLITests.run(["alerts", "list", "--state", state])
        #expect(
            listed.stdout.contains("open incidents:\n  check/collector-processing [critical] since "),
            "\(listed.stdout)")
        let listedJSON = try await CLITests.run(["alerts", "list", "--state", state, "--output", "json"])
        let alerts = try #require(
            try JSONSerialization.jsonObject(with: Data(listedJSON.stdout.utf8)) as? [String: Any],
            "\(listedJSON.stderr)")
        let incidents = try #require(alerts["incidents"] as? [[String: Any]])
        #expect(incidents.contains { ($0["key"] as? String) == "check/collector-processing" }, "\(listedJSON.stdout)")

        // The line comes back.
        _ = try Command.run(["docker", "-H", engine.endpoint, "exec", container, "sh", "-c", ": > /stop"])
        #expect(
            await Self.eventually(30) { smtp.deliveries().count == 2 && receivers.posts().count == 2 },
            "\(DAGCLITests.contents(output))")
        try await Task.sleep(for: .seconds(3))
        let emails = smtp.deliveries()
        #expect(emails.count == 2)
        #expect(emails.contains { $0.contains("Subject: [RESOLVED] check/collector-processing") })
        #expect(receivers.posts().count == 2)
        #expect(receivers.posts().contains { $0.contains("RESOLVED") })
        #expect(try await CLITests.run(["alerts", "list", "--state", state]).stdout.hasPrefix("no open incident\n"))
        // The replica's output was collected: searchable by App name, and "idle" lines from the pause.
        // Every loop iteration prints one line ("processed <i> events", or "idle" while stopped): line
        // i of the collected output is exactly that, none missing, none twice.
        // Lines 10-19 are compared with a grep below: wait until they are collected (the App prints
        // one every 0.5 s; a fast run reached this point with 19).
        var all: [Substring] = []
        #expect(
            try await Self.eventually(30) {
                all = try await CLITests.run(["logs", "collector", "--state", state]).stdout.split(separator: "\n")
                return all.count >= 20
            }, "\(all.count) lines collected")
        #expect(all.enumerated().allSatisfy { $1 == "processed \($0) events" || $1 == "idle" }, "\(all)")
        #expect(all.contains("idle"))
        let grep = try await CLITests.run(["logs", "collector", "--grep", #"^processed 1\d events$"#, "--state", state])
        #expect(grep.status == 0, "\(grep.stderr)")
        let expected = all.enumerated().filter { (10..<20).contains($0.offset) && $0.element != "idle" }.map {
            "\($0.element)\n"
        }
        #expect(grep.stdout == expected.joined(), "\(grep.stdout)")
        let idle = try await CLITests.run(["logs", "collector", "--grep", "idle", "--since", "10m", "--state", state])
        #expect(idle.stdout.split(separator: "\n").count >= 2, "\(idle.stdout)")
        let unknown = try await CLITests.run(["logs", "nope", "--state", state])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no output collected for nope"), "\(unknown.stderr)")

        // The heartbeat URL was fetched after passes all along.
        let beats = ((try? FileManager.default.contentsOfDirectory(atPath: receivers.hooks)) ?? []).filter {
            $0.hasPrefix("beat-")
        }
        #expect(beats.count >= 10, "\(beats.count) heartbeats")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
        smtp.stop()
        webhook.stop()
        _ = await smtp.process.wait(timeout: 10)
        _ = await webhook.process.wait(timeout: 10)
        await engine.shutdownOffPool()
    }

    /// The SMTP server is down when an incident opens: the notice waits in the outbox, retried with
    /// backoff; the controller is killed with SIGKILL and restarted in between. Then the server is up
    /// but holds its reply to the first message after storing it, and the controller is killed in
    /// exactly that window (the receiver has the mail, the outbox has not marked it sent). The
    /// restarted controller sends it again with the same Message-ID: two deliveries, one mail in a
    /// mailbox that keeps one per Message-ID, and the outbox marks it sent once.
    @Test(.timeLimit(.minutes(5))) func aNoticeWaitsForTheServerAndAKillInTheDeliveryWindowResendsTheSameMessage()
        async throws
    {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // The SMTP port is reserved (bound, refusing) until the server takes the very socket over.
        let reserved = try Loopback.refusingPort()
        var reservedOpen = true
        defer { if reservedOpen { close(reserved.descriptor) } }
        // No webhook notifier fires in this test (its check alerts mail only): port 9 refuses.
        let receivers = Receivers(smtpPort: reserved.port, webhookPort: 9, hooks: root.path + "/hooks")
        let manifests =
            """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 2, memory: 1Gi }
            ---
            kind: Check
            name: disk
            command: ["/bin/sh", "-c", "echo CRITICAL - disk full; exit 2"]
            interval: 1s
            failAfter: 1
            alerts: [mail]
            ---

            """ + Self.notifiers(receivers)
        let repository = try Self.repository(at: root, manifests: manifests)
        let state = root.path + "/state"
        let output = root.path + "/controller.log"
        func start() throws -> ChildProcess {
            try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "5s",
                    "--tick", "500ms",
                ], output: output)
        }
        var controller = try start()
        let store = try Store(stateDirectory: state)
        func entry() throws -> OutboxEntry? { try store.outbox().first { $0.notice.key == "check/disk" } }
        #expect(
            try await Self.eventually(30) { try entry().map { $0.attempts >= 1 && $0.sentAt == nil } == true },
            "\(DAGCLITests.contents(output))")
        controller.signal(SIGKILL)
        _ = await controller.wait(timeout: 10)
        controller = try start()

        let smtp = try await SMTPReceiver.start(
            folder: root.path + "/smtp", options: ["--delay-first", "240"], reserved: reserved.descriptor)
        defer { smtp.stop() }
        close(reserved.descriptor)
        reservedOpen = false
        // The first delivery is stored and its reply held: the controller is in the window.
        #expect(await Self.eventually(90) { smtp.windowOpen }, "\(DAGCLITests.contents(output))")
        #expect(try entry()?.sentAt == nil, "the outbox marked it sent before the receiver answered")
        controller.signal(SIGKILL)
        #expect(await controller.wait(timeout: 60) == 128 + SIGKILL)
        #expect(try entry()?.sentAt == nil)
        controller = try start()
        #expect(
            try await Self.eventually(90) { try entry()?.sentAt != nil }, "\(DAGCLITests.contents(output))")
        let deliveries = smtp.deliveries()
        #expect(deliveries.count == 2, "\(deliveries.count) deliveries")
        func messageID(_ mail: String) -> String? {
            mail.components(separatedBy: .newlines).first { $0.hasPrefix("Message-ID: ") }
        }
        let ids = deliveries.compactMap(messageID)
        #expect(ids.count == 2 && Set(ids).count == 1, "\(ids)")
        #expect(ids.first?.hasPrefix("Message-ID: <check.disk.") == true, "\(ids)")
        let mails = smtp.mails()
        #expect(mails.count == 1)
        #expect(mails.first?.contains("CRITICAL - disk full") == true, "\(mails)")
        let sent = try #require(try entry())
        #expect(sent.attempts >= 2)
        #expect(try store.outbox().count == 1)
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }
}

@Suite struct AlertsCLITests {
    @Test func silencesAreRecordedByIncidentKeyOrCheckName() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("silence-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let check = try await CLITests.run(["alerts", "silence", "disk", "--for", "2h", "--state", state])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.hasPrefix("check/disk: silenced until 20"))
        let node = try await CLITests.run(["alerts", "silence", "node/a", "--for", "30m", "--state", state])
        #expect(node.stdout.hasPrefix("node/a: silenced until "))
        let silences = try Store(stateDirectory: state).silences()
        #expect(Set(silences.keys) == ["check/disk", "node/a"])
        let hours = (silences["check/disk"]!.timeIntervalSinceNow / 3600).rounded()
        #expect(hours == 2)
        let bad = try await CLITests.run(["alerts", "silence", "disk", "--for", "soon", "--state", state])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--for: "), "\(bad.stderr)")
        let listed = try await CLITests.run(["alerts", "list", "--state", state])
        #expect(listed.stdout == "no open incident\n", "\(listed.stdout)")
    }
}
