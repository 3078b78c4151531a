import Foundation
import ReconcileStore
import ReconcileTesting
import Testing

/// The alert conditions of a running `reconcile controller` on its local process node, delivered to
/// the real SMTP server and the loopback webhook receiver: a crash loop and its fix, a run late for
/// its deadline, a log count check, a Nagios warning that turns critical (minSeverity), a recurring
/// Silence, and three checks failing together (groupWait).
@Suite struct AlertConditionsEndToEndTests {
    typealias E2E = AlertsEndToEndTests

    /// The Slack texts of the posts that mention `key`.
    static func posts(_ receivers: E2E.Receivers, _ key: String) -> [String] {
        receivers.posts().compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])?["text"]
        }.filter { $0.contains(key) }
    }

    /// The `index`th post that mentions `key`, or "" when there is none (so the expectation on it
    /// fails, instead of an index out of range ending the whole test run and orphaning its
    /// controllers).
    static func post(_ receivers: E2E.Receivers, _ key: String, _ index: Int) -> String {
        let all = posts(receivers, key)
        return all.indices.contains(index) ? all[index] : ""
    }

    /// Deliveries to `recipient` whose subject names `key`.
    static func mails(_ smtp: SMTPReceiver, to recipient: String, _ key: String) -> [String] {
        smtp.deliveries().filter { $0.contains("To: \(recipient)") && $0.contains(key) }
    }

    static func manifests(root: String, receivers: E2E.Receivers, crashing: Bool) -> String {
        let crasher =
            crashing
            ? #"["/bin/sh", "-c", "echo starting; echo 'fatal: config /etc/crasher.yaml missing'; sleep 1; exit 1"]"#
            : #"["/bin/sh", "-c", "echo fixed; exec sleep 3600"]"#
        return """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 2, memory: 2Gi }
            ---
            kind: App
            name: crasher
            command: \(crasher)
            resources: { cpu: 50m, memory: 32Mi }
            alerts: [mail, chat]
            alertAfter: 10m
            ---
            kind: App
            name: chatty
            command: ["/bin/sh", "-c", "while true; do if [ -e \(root)/loud ]; then echo 'ERROR boom'; else echo fine; fi; sleep 0.25; done"]
            resources: { cpu: 50m, memory: 32Mi }
            ---
            kind: Check
            name: error-rate
            app: chatty
            logs: { count: { pattern: ERROR, over: 10s, above: 10 } }
            interval: 1s
            failAfter: 1
            alerts: [chat]
            ---
            kind: DAG
            name: nightly
            schedule: "* * * * *"
            deadline: 10s
            alerts: [chat]
            tasks:
              load:
                command: ["/bin/sh", "-c", "if [ ! -e \(root)/loaded ]; then touch \(root)/loaded; sleep 25; fi; echo loaded"]
                resources: { cpu: 50m, memory: 32Mi }
            ---
            kind: Check
            name: disk
            command: ["/bin/sh", "-c", "cat \(root)/disk-output; exit $(cat \(root)/disk-code)"]
            interval: 1s
            failAfter: 1
            alerts: [disk-mail, disk-chat]
            ---
            kind: Check
            name: batch-a
            command: ["/bin/sh", "-c", "test ! -e \(root)/batch"]
            interval: 1s
            failAfter: 1
            alerts: [digest]
            ---
            kind: Check
            name: batch-b
            command: ["/bin/sh", "-c", "test ! -e \(root)/batch"]
            interval: 1s
            failAfter: 1
            alerts: [digest]
            ---
            kind: Check
            name: batch-c
            command: ["/bin/sh", "-c", "test ! -e \(root)/batch"]
            interval: 1s
            failAfter: 1
            alerts: [digest]
            ---
            kind: Check
            name: maintenance-job
            command: ["/bin/sh", "-c", "test ! -e \(root)/maintenance"]
            interval: 1s
            failAfter: 1
            alerts: [chat]
            ---
            kind: Silence
            name: first-half-minute
            comment: the job is down for the first half of every minute
            matchers: [{ incident: "check/maintenance-*" }]
            cron: "* * * * *"
            duration: 30s
            ---
            kind: Notifier
            name: mail
            email:
              to: [ops@example.com]
              from: reconcile@example.com
              smtp: { host: 127.0.0.1, port: \(receivers.smtpPort), starttls: false }
            minSeverity: critical
            groupWait: 0s
            ---
            kind: Notifier
            name: chat
            webhook: { url: "http://127.0.0.1:\(receivers.webhookPort)/hook", format: slack }
            groupWait: 0s
            ---
            kind: Notifier
            name: disk-mail
            email:
              to: [ops@example.com]
              from: reconcile@example.com
              smtp: { host: 127.0.0.1, port: \(receivers.smtpPort), starttls: false }
            minSeverity: critical
            groupWait: 0s
            ---
            kind: Notifier
            name: disk-chat
            webhook: { url: "http://127.0.0.1:\(receivers.webhookPort)/hook", format: slack }
            groupWait: 0s
            ---
            kind: Notifier
            name: digest
            email:
              to: [digest@example.com]
              from: reconcile@example.com
              smtp: { host: 127.0.0.1, port: \(receivers.smtpPort), starttls: false }
            groupWait: 10s

            """
    }

    @Test(.timeLimit(.minutes(10))) func crashLoopsDeadlinesCountsSeveritiesSilencesAndGroups() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("conditions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let files = root.path
        try "0".write(toFile: files + "/disk-code", atomically: true, encoding: .utf8)
        try "DISK OK - 40% used".write(toFile: files + "/disk-output", atomically: true, encoding: .utf8)
        let smtp = try await SMTPReceiver.start(folder: files + "/smtp")
        let webhook = try await E2E.startWebhookReceiver(hooks: files + "/hooks", log: files + "/webhook.log")
        let receivers = E2E.Receivers(smtpPort: smtp.port, webhookPort: webhook.port, hooks: files + "/hooks")
        let repository = try E2E.repository(
            at: root, manifests: Self.manifests(root: files, receivers: receivers, crashing: true))
        let state = files + "/state"
        let output = files + "/controller.log"
        let controller = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                "--tick", "500ms",
            ], output: output, endsWorkloadsUnder: state)
        let log = { DAGCLITests.contents(output) }

        // A crash loop: one email and one post, with the exit code and the last output line.
        #expect(
            await E2E.eventually(120) {
                !Self.mails(smtp, to: "ops@example.com", "crashloop/crasher").isEmpty
                    && !Self.posts(receivers, "crashloop/crasher").isEmpty
            }, "\(log())")
        let crashMail = try #require(Self.mails(smtp, to: "ops@example.com", "crashloop/crasher").first)
        #expect(crashMail.contains("Subject: [FIRING critical] crashloop/crasher"), "\(crashMail)")
        #expect(crashMail.contains("app crasher is crash-looping: replica 0 crashed"), "\(crashMail)")
        #expect(crashMail.contains("last exit code 1"), "\(crashMail)")
        #expect(crashMail.contains("fatal: config /etc/crasher.yaml missing"), "\(crashMail)")
        #expect(Self.post(receivers, "crashloop/crasher", 0).contains("fatal: config /etc/crasher.yaml missing"))

        // A Nagios WARNING goes to chat only (mail takes criticals); CRITICAL escalates: chat hears
        // it again, mail hears it fire. The disk check has notifiers of its own: a notice of another
        // incident due in the same round would share its post (a group, headed by the gravest).
        // The output is written before the exit code, so a check run between the two writes never
        // pairs the new state with the old text.
        try "DISK WARNING - 85% used".write(toFile: files + "/disk-output", atomically: true, encoding: .utf8)
        try "1".write(toFile: files + "/disk-code", atomically: true, encoding: .utf8)
        #expect(await E2E.eventually(30) { !Self.posts(receivers, "check/disk").isEmpty }, "\(log())")
        #expect(Self.post(receivers, "check/disk", 0).contains("[FIRING warning] check/disk"))
        #expect(Self.post(receivers, "check/disk", 0).contains(":warning:"))
        try await Task.sleep(for: .seconds(3))
        #expect(Self.mails(smtp, to: "ops@example.com", "check/disk").isEmpty, "mail takes criticals only")
        try "DISK CRITICAL - 97% used".write(toFile: files + "/disk-output", atomically: true, encoding: .utf8)
        try "2".write(toFile: files + "/disk-code", atomically: true, encoding: .utf8)
        #expect(
            await E2E.eventually(30) {
                Self.posts(receivers, "check/disk").count == 2
                    && Self.mails(smtp, to: "ops@example.com", "check/disk").count == 1
            }, "\(log())")
        #expect(Self.post(receivers, "check/disk", 1).contains("[ESCALATED to critical] check/disk"))
        let diskMail = try #require(Self.mails(smtp, to: "ops@example.com", "check/disk").first)
        #expect(diskMail.contains("Subject: [FIRING critical] check/disk") && diskMail.contains("DISK CRITICAL"))

        // A log count: more than 10 ERROR lines in 10 s fires (quoting them); fewer resolves.
        let store = try Store(stateDirectory: state)
        #expect(
            try await E2E.eventually(60) { try store.checkStates()["error-rate"].map { !$0.failing } == true },
            "\(log())")
        #expect(Self.posts(receivers, "check/error-rate").isEmpty, "the count check passed from the start")
        _ = FileManager.default.createFile(atPath: files + "/loud", contents: nil)
        #expect(await E2E.eventually(60) { !Self.posts(receivers, "check/error-rate").isEmpty }, "\(log())")
        let countPost = Self.post(receivers, "check/error-rate", 0)
        #expect(countPost.contains("[FIRING critical] check/error-rate"), "\(countPost)")
        #expect(countPost.contains("more than 10") && countPost.contains("ERROR boom"), "\(countPost)")
        try FileManager.default.removeItem(atPath: files + "/loud")
        #expect(
            await E2E.eventually(60) { Self.posts(receivers, "check/error-rate").count == 2 }, "\(log())")
        #expect(Self.post(receivers, "check/error-rate", 1).contains("[RESOLVED] check/error-rate"))

        // Three checks failing together (`test` exits 1: Nagios WARNING): one email to the digest
        // notifier, listing all three.
        _ = FileManager.default.createFile(atPath: files + "/batch", contents: nil)
        #expect(
            await E2E.eventually(60) { !smtp.deliveries().filter { $0.contains("To: digest@example.com") }.isEmpty },
            "\(log())")
        try await Task.sleep(for: .seconds(5))
        let digests = smtp.deliveries().filter { $0.contains("To: digest@example.com") }
        #expect(digests.count == 1, "\(digests)")
        let digest = try #require(digests.first)
        #expect(digest.contains("Subject: [FIRING warning] 3 notices"), "\(digest)")
        for name in ["batch-a", "batch-b", "batch-c"] {
            #expect(digest.contains("[FIRING warning] check/\(name)"), "\(digest)")
        }

        // A recurring Silence (the first 30 s of every minute): a check failing inside the window
        // tells no one until the window closes, then notifies at once.
        var second = Calendar(identifier: .gregorian).component(.second, from: Date())
        while !(2...12).contains(second) {
            try await Task.sleep(for: .milliseconds(500))
            second = Calendar(identifier: .gregorian).component(.second, from: Date())
        }
        _ = FileManager.default.createFile(atPath: files + "/maintenance", contents: nil)
        try await Task.sleep(for: .seconds(Double(27 - second)))
        #expect(Self.posts(receivers, "check/maintenance-job").isEmpty, "muted inside its window")
        let listed = try await CLITests.run(["alerts", "list", "--state", state])
        #expect(listed.stdout.contains("check/maintenance-job [warning] since "), "\(listed.stdout)")
        #expect(listed.stdout.contains("(silenced by first-half-minute until "), "\(listed.stdout)")
        #expect(await E2E.eventually(20) { !Self.posts(receivers, "check/maintenance-job").isEmpty }, "\(log())")
        #expect(Calendar(identifier: .gregorian).component(.second, from: Date()) >= 30)
        #expect(Self.post(receivers, "check/maintenance-job", 0).contains("[FIRING warning] check/maintenance-job"))

        // The first scheduled run is still running 10 s after its logical date: one incident,
        // resolved once it succeeded (the next runs are quick and on time).
        #expect(await E2E.eventually(150) { Self.posts(receivers, "deadline/nightly").count >= 2 }, "\(log())")
        let late = (Self.post(receivers, "deadline/nightly", 0), Self.post(receivers, "deadline/nightly", 1))
        #expect(
            late.0.contains("[FIRING critical] deadline/nightly") && late.0.contains("is running past its deadline"))
        #expect(late.1.contains("[RESOLVED] deadline/nightly"), "\(late)")

        // The fix is a commit: the crash loop resolves once the new revision has run for a minute.
        try Self.manifests(root: files, receivers: receivers, crashing: false).write(
            to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
        try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "fix the crasher"], in: repository)
        #expect(
            await E2E.eventually(150) {
                Self.mails(smtp, to: "ops@example.com", "crashloop/crasher").count == 2
                    && Self.posts(receivers, "crashloop/crasher").count == 2
            }, "\(log())")
        #expect(
            Self.mails(smtp, to: "ops@example.com", "crashloop/crasher").dropFirst().first?.contains(
                "[RESOLVED] crashloop/crasher") == true)
        #expect(Self.post(receivers, "crashloop/crasher", 1).contains("[RESOLVED] crashloop/crasher"))
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 30) == 0)
        smtp.stop()
        webhook.stop()
        _ = await smtp.process.wait(timeout: 10)
        _ = await webhook.process.wait(timeout: 10)
    }
}
