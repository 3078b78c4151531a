import Foundation
import ReconcileAlerts
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

@Suite struct AlertingTests {
    let node = NodeSpec(name: "memory", backend: .process)

    func checks(_ lines: [String]?) async throws -> (CheckRunner, InMemoryDriver) {
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 4 << 30)))
        if let lines {
            _ = try await driver.run(
                ContainerSpec(
                    name: "collector-1", command: ["fake:print"] + lines,
                    labels: [OwnershipLabels.app: "collector", OwnershipLabels.slot: "1", OwnershipLabels.spec: "h"]))
        }
        return (CheckRunner(nodes: [node], drivers: ["memory": driver]), driver)
    }

    func logCheck(_ mode: CheckSpec.LogMode) -> CheckSpec {
        CheckSpec(
            name: "c", app: "collector",
            probe: .logs(pattern: #"processed \d+ events"#, mode: mode, within: .minutes(10)))
    }

    /// A count check: more than `above` or fewer than `below` matching lines fail, quoting the last
    /// five; with no replica there are no lines (never too many).
    @Test(arguments: [
        (
            7, 5 as Int?, nil as Int?, false,
            "7 lines matched /processed \\d+ events/ in the last 10m in app collector, more than 5"
        ),
        (5, 5, nil, true, "5 lines matched /processed \\d+ events/ in the last 10m in app collector"),
        (2, nil, 3, false, "2 lines matched /processed \\d+ events/ in the last 10m in app collector, fewer than 3"),
        (3, 10, 3, true, "3 lines matched /processed \\d+ events/ in the last 10m in app collector"),
    ])
    func countChecksKeepMatchingLinesWithinBounds(
        count: Int, above: Int?, below: Int?, passes: Bool, message: String
    ) async throws {
        let lines = (0..<count).flatMap { ["processed \($0) events", "idle"] }
        let (runner, _) = try await checks(lines)
        let result = await runner.run(
            logCheck(.count(above: above, below: below)), previousMatch: nil, now: Date().addingTimeInterval(1))
        #expect(result.passed == passes)
        #expect(result.message.hasPrefix(message), "\(result.message)")
        if !passes {
            // The last five matching lines are quoted, oldest first.
            let quoted = (max(0, count - 5)..<count).map { "\n  processed \($0) events" }.joined()
            #expect(result.message.hasSuffix("; the last:" + quoted), "\(result.message)")
        }
        let (none, _) = try await checks(nil)
        let noReplica = await none.run(
            logCheck(.count(above: 5, below: nil)), previousMatch: nil, now: Date().addingTimeInterval(1))
        #expect(noReplica.passed && noReplica.message.contains("(no replica running)"), "\(noReplica.message)")
    }

    /// A log check tells "no logs at all" from "no matching line", and keeps the last match time.
    @Test func logChecksSayWhatTheyFound() async throws {
        let now = Date().addingTimeInterval(1)
        let (matching, _) = try await checks(["starting", "processed 10 events"])
        let passed = await matching.run(logCheck(.match), previousMatch: nil, now: now)
        #expect(passed.passed)
        #expect(passed.message.hasSuffix("matched in the last 10m: processed 10 events"), "\(passed.message)")
        #expect(passed.lastMatch != nil)

        let (other, _) = try await checks(["starting", "waiting for input"])
        let earlier = Date(timeIntervalSince1970: 1_800_000_000)
        let unmatched = await other.run(logCheck(.match), previousMatch: earlier, now: now)
        #expect(!unmatched.passed)
        #expect(
            unmatched.message
                == #"no line matched /processed \d+ events/ in the last 10m (2 lines from app collector; last match 2027-01-15T08:00:00Z)"#
        )
        #expect(unmatched.lastMatch == earlier)

        let (silent, _) = try await checks([])
        let quiet = await silent.run(logCheck(.match), previousMatch: nil, now: now)
        #expect(quiet.message == "no logs at all in the last 10m from app collector (never matched)")
        let (none, _) = try await checks(nil)
        let absentApp = await none.run(logCheck(.match), previousMatch: nil, now: now)
        #expect(absentApp.message == "no logs at all: app collector has no replica running")

        let appeared = await matching.run(logCheck(.absent), previousMatch: nil, now: now)
        #expect(!appeared.passed)
        #expect(appeared.message.contains("appeared in the last 10m"))
        #expect(await other.run(logCheck(.absent), previousMatch: nil, now: now).passed)
    }

    /// Nagios exit codes; the output is kept; at the timeout the whole process group is killed.
    @Test func commandChecksFollowNagiosAndKillTheTreeAtTheTimeout() async throws {
        let (runner, _) = try await checks(nil)
        func command(_ script: String, timeout: Timespan = .seconds(10)) -> CheckSpec {
            CheckSpec(name: "cmd", probe: .command(["/bin/sh", "-c", script]), timeout: timeout)
        }
        let ok = await runner.run(command("echo DISK OK - 40% used"), previousMatch: nil, now: Date())
        #expect(ok == CheckRunner.Result(passed: true, message: "OK: DISK OK - 40% used"))
        let warning = await runner.run(command("echo DISK WARNING; exit 1"), previousMatch: nil, now: Date())
        #expect(warning == CheckRunner.Result(passed: false, message: "WARNING: DISK WARNING", severity: .warning))
        let critical = await runner.run(command("exit 2"), previousMatch: nil, now: Date())
        #expect(critical.message == "CRITICAL" && critical.severity == .critical)
        #expect(await runner.run(command("exit 3"), previousMatch: nil, now: Date()).message == "UNKNOWN (exit 3)")
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        // 5 s: starting `sh` on a loaded two-core machine can take over a second; the timeout must
        // fall while the child sleeps, not before it wrote its pid.
        let hung = await runner.run(
            command("sleep 30 & echo $! > \(pidFile); wait", timeout: .seconds(5)), previousMatch: nil, now: Date())
        #expect(hung.message == "CRITICAL (timed out after 5s; killed)")
        let child = try #require(
            Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie waiting for init to reap it: not running (polled; the kill is immediate).
        var running = true
        var stat = ""
        for _ in 0..<100 where running {
            stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            running =
                stat.split(separator: ")").last.map { $0.trimmingCharacters(in: .whitespaces).hasPrefix("Z") } == false
            if running { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!running, "the background child survived: \(stat)")
    }

    /// Conditions from what the store knows: a failed DAG run names its root cause (its
    /// upstreamFailed tasks are part of that one condition), an invalid commit, an unreachable node.
    @Test func conditionsComeFromDAGRunsNodesAndCommits() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conditions-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(stateDirectory: folder)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let dag = DAGSpec(
            name: "etl",
            tasks: [TaskSpec(name: "a", command: ["true"]), TaskSpec(name: "b", command: ["true"], after: ["a"])],
            alerts: ["mail"])
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c", createdAt: now))
        try store.finishRun(
            dag: "etl", runID: "manual__1", state: .failed, at: now,
            failure: "dag etl run manual__1 failed: task a failed after 1 try (exit 3); not run (upstream failed): b")
        let mail = NotifierSpec(
            name: "mail",
            channel: .email(EmailSettings(to: ["a@example.com"], from: "r@example.com", host: "127.0.0.1")))
        var inputs = Alerting.Inputs(state: DesiredState(nodes: [node], dags: [dag], notifiers: [mail]))
        inputs.unreachable = ["memory": now]
        inputs.invalidCommit = ("0123456789abcdef", ["app.yaml:3:11: error: replicas must be a number"])
        let alerting = Alerting(store: store, log: { _ in })
        let conditions = Dictionary(uniqueKeysWithValues: try alerting.conditions(inputs).map { ($0.key, $0) })
        #expect(conditions.keys.sorted() == ["commit", "dag/etl", "node/memory", "queued/etl"])
        #expect(conditions["queued/etl"]?.failing == false)
        #expect(conditions["dag/etl"]?.failing == true)
        #expect(conditions["dag/etl"]?.summary.contains("task a failed after 1 try (exit 3)") == true)
        #expect(conditions["dag/etl"]?.notifiers == ["mail"])
        #expect(conditions["node/memory"]?.failing == true)
        #expect(conditions["node/memory"]?.notifiers == ["mail"])  // cluster-wide: every notifier
        #expect(conditions["commit"]?.summary.hasPrefix("commit 0123456789ab is invalid") == true)
    }

    /// A scheduled run still running past its deadline fails `deadline/DAG`, also when the alerting
    /// round first saw the DAG just after the run's tick (the controller started a moment before
    /// it); a tick before the first sighting with no run has no deadline.
    @Test func aRunCreatedBeforeTheFirstRoundIsStillWatchedForItsDeadline() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("deadline-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(stateDirectory: folder)
        let tick = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute
        let dag = DAGSpec(
            name: "nightly", schedule: try CronSchedule(parsing: "* * * * *"), timezone: "UTC",
            tasks: [TaskSpec(name: "load", command: ["load"])], alerts: ["chat"], deadline: .seconds(10))
        let inputs = Alerting.Inputs(state: DesiredState(nodes: [node], dags: [dag]))
        let alerting = Alerting(store: store, log: { _ in })
        func deadline(at now: Date) throws -> Condition? {
            try alerting.conditions(inputs, now: now).first { $0.key == "deadline/nightly" }
        }
        // The first round comes half a second after the tick; nothing ran for it: no deadline.
        #expect(try deadline(at: tick.addingTimeInterval(0.5))?.failing == false)
        #expect(try deadline(at: tick.addingTimeInterval(11))?.failing == false)
        // The scheduler had made the tick's run: it is late at 11 s.
        try store.addRun(
            RunRecord(
                dag: "nightly", runID: "scheduled__1", logicalDate: tick,
                dataIntervalStart: tick.addingTimeInterval(-60),
                dataIntervalEnd: tick, commitID: "c", createdAt: tick))
        let late = try #require(try deadline(at: tick.addingTimeInterval(11)))
        #expect(late.failing, "\(late.summary)")
        #expect(late.summary.contains("is running past its deadline"), "\(late.summary)")
        try store.finishRun(
            dag: "nightly", runID: "scheduled__1", state: .succeeded, at: tick.addingTimeInterval(25), failure: nil)
        #expect(try deadline(at: tick.addingTimeInterval(26))?.failing == false)
    }

    /// Webhook answers: 2xx sent; 429 retried after its Retry-After; other 4xx given up; 5xx retried.
    @Test(.timeLimit(.minutes(1))) func webhookAnswersDecideRetries() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hooks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("oracles/webhook_receiver.py").path
        let receiver = try await LoopbackServer.start(
            ["/usr/bin/python3", script, "0", folder, "429", "400", "503", "200"], output: folder + "/log")
        defer { receiver.stop() }
        let port = receiver.port
        let notice = Notice(
            incidentID: "check/disk@1", key: "check/disk", notifier: "hook", kind: .firing, summary: "disk full",
            openedAt: Date(timeIntervalSince1970: 1_800_000_000), at: Date(timeIntervalSince1970: 1_800_000_060),
            idempotencyKey: "check/disk@1/hook/1")
        let hook = NotifierSpec(
            name: "hook", channel: .webhook(url: .literal("http://127.0.0.1:\(port)/x"), format: .alertmanager))
        let sender = NoticeSender()
        #expect(
            await sender.send(notice, via: hook)
                == .retry(after: 7, "webhook at 127.0.0.1: HTTP 429 (too many requests)"))
        #expect(await sender.send(notice, via: hook) == .permanent("webhook at 127.0.0.1: HTTP 400; not retried"))
        #expect(await sender.send(notice, via: hook) == .retry(after: nil, "webhook at 127.0.0.1: HTTP 503"))
        #expect(await sender.send(notice, via: hook) == .sent)
        // The Alertmanager webhook payload, version 4, and the idempotency key as a header.
        let body = try Data(contentsOf: URL(fileURLWithPath: folder + "/0004.json"))
        let payload = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(payload["version"] as? String == "4")
        #expect(payload["status"] as? String == "firing")
        #expect(payload["receiver"] as? String == "hook")
        let alert = try #require((payload["alerts"] as? [[String: Any]])?.first)
        #expect((alert["labels"] as? [String: String])?["alertname"] == "check/disk")
        #expect((alert["annotations"] as? [String: String])?["summary"] == "disk full")
        #expect(alert["startsAt"] as? String == "2027-01-15T08:00:00Z")
        #expect(alert["endsAt"] as? String == "0001-01-01T00:00:00Z")
        #expect(try String(contentsOfFile: folder + "/0004.key", encoding: .utf8) == "check/disk@1/hook/1")
    }

    static let mailNotice = Notice(
        incidentID: "check/disk@1", key: "check/disk", notifier: "mail", kind: .firing, summary: "disk full",
        openedAt: Date(timeIntervalSince1970: 1_800_000_000), at: Date(timeIntervalSince1970: 1_800_000_060),
        idempotencyKey: "check/disk@1/mail/1")

    static func mail(
        port: Int, starttls: Bool, username: String? = nil, password: SecretReference? = nil
    )
        -> NotifierSpec
    {
        NotifierSpec(
            name: "mail",
            channel: .email(
                EmailSettings(
                    to: ["ops@example.com"], from: "reconcile@example.com", host: "127.0.0.1", port: port,
                    starttls: starttls, username: username, password: password)))
    }

    /// SMTP AUTH with a password read from a `file:` secret reference: the right one delivers, a
    /// wrong one is refused (535) and given up, never retried; a 5xx answer to the message is given
    /// up too; and the password appears in no outcome.
    @Test(.timeLimit(.minutes(2))) func smtpAuthenticatesWithAFileSecretAndGivesUpOn5xx() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await SMTPReceiver.start(folder: folder + "/auth", options: ["--auth", "robot:s3cret-pw"])
        defer { server.stop() }
        let secret = folder + "/smtp-password"
        try "s3cret-pw\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let wrong = folder + "/wrong-password"
        try "not-it\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let sender = NoticeSender()
        let sent = await sender.send(
            Self.mailNotice,
            via: Self.mail(port: server.port, starttls: false, username: "robot", password: .file(secret)))
        #expect(sent == .sent)
        #expect(server.deliveries().count == 1)
        #expect(server.deliveries().first?.contains("Message-ID: <check.disk.1.mail.1@reconcile>") == true)
        let refused = await sender.send(
            Self.mailNotice,
            via: Self.mail(port: server.port, starttls: false, username: "robot", password: .file(wrong)))
        guard case .permanent(let problem) = refused else {
            Issue.record("a refused login must be given up, got \(refused)")
            return
        }
        #expect(problem.contains("535"), "\(problem)")
        #expect(!problem.contains("not-it") && !problem.contains("s3cret"))
        #expect(server.deliveries().count == 1)

        let rejecting = try await SMTPReceiver.start(folder: folder + "/reject", options: ["--reject", "550"])
        defer { rejecting.stop() }
        let rejected = await sender.send(Self.mailNotice, via: Self.mail(port: rejecting.port, starttls: false))
        guard case .permanent(let reason) = rejected else {
            Issue.record("a 550 must be given up, got \(rejected)")
            return
        }
        #expect(reason.contains("550"), "\(reason)")
    }

    /// `starttls: true` never sends in clear: a server without STARTTLS is not sent to, and a server
    /// whose certificate no trusted CA signed is refused (the certificate is verified); with STARTTLS
    /// off the same plain server takes the message.
    @Test(.timeLimit(.minutes(2))) func starttlsIsRequiredAndVerified() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sender = NoticeSender(timeout: .seconds(10))
        let plain = try await SMTPReceiver.start(folder: folder + "/plain")
        defer { plain.stop() }
        let noTLS = await sender.send(Self.mailNotice, via: Self.mail(port: plain.port, starttls: true))
        #expect(noTLS != .sent, "sent without TLS")
        #expect(plain.deliveries().isEmpty)
        #expect(await sender.send(Self.mailNotice, via: Self.mail(port: plain.port, starttls: false)) == .sent)
        #expect(plain.deliveries().count == 1)

        let certificates = try TLSTestCertificate(folder: folder + "/certs")
        let tls = try await SMTPReceiver.start(
            folder: folder + "/tls", options: ["--tls", certificates.certificate, certificates.key])
        defer { tls.stop() }
        let untrusted = await sender.send(Self.mailNotice, via: Self.mail(port: tls.port, starttls: true))
        guard case .retry(_, let problem) = untrusted else {
            Issue.record("an untrusted certificate must fail the delivery, got \(untrusted)")
            return
        }
        #expect(problem.lowercased().contains("certificate"), "\(problem)")
        #expect(tls.deliveries().isEmpty)
        // The server does speak STARTTLS: a client that trusts its certificate delivers (Python's
        // smtplib with the certificate as its CA), so the refusal above was the verification.
        let trusted = try Command.run([
            "/usr/bin/python3", "-c",
            "import smtplib, ssl, sys; s = smtplib.SMTP('127.0.0.1', int(sys.argv[1])); "
                + "s.starttls(context=ssl.create_default_context(cafile=sys.argv[2])); "
                + "s.sendmail('a@example.com', ['b@example.com'], 'Subject: t\\r\\n\\r\\nx\\r\\n'); s.quit()",
            String(tls.port), certificates.certificate,
        ])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(tls.deliveries().count == 1)
    }

    /// The outbox's backoff: 2 s doubling per attempt up to 5 minutes, each within ±20 %.
    @Test func outboxBackoffDoublesUpToFiveMinutesWithJitter() {
        for attempt in 0..<20 {
            let base = min(300, 2 * pow(2, Double(min(attempt, 10))))
            let draws = (0..<200).map { _ in Alerting.backoff(attempt: attempt) }
            #expect(draws.allSatisfy { $0 >= base * 0.8 && $0 <= base * 1.2 }, "attempt \(attempt): \(draws.min()!)...")
            #expect(Set(draws).count > 100, "attempt \(attempt): no jitter")
        }
        #expect(Alerting.backoff(attempt: 0) < 2.5)
        #expect(Alerting.backoff(attempt: 30) >= 240)
        // The jitter is an input: fixed, the backoff is exact.
        #expect(Alerting.backoff(attempt: 3, jitter: 1) == 16)
        #expect(Alerting.backoff(attempt: 3, jitter: 0.8) == 12.8)
    }
}

@Suite struct ProbeCheckTests {
    /// A loopback HTTP server (Python) on a port it binds itself: /ok answers 200 "healthy v3",
    /// /down 503; it reports its port.
    static let server = """
        import http.server, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code, body = (200, b"healthy v3") if self.path == "/ok" else (503, b"down")
                self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
        """

    /// HTTP checks: the expected status passes; another status, a body without the expected text,
    /// and a refused connection fail, each saying why. TCP checks: a listener passes, a refusing
    /// port fails.
    @Test(.timeLimit(.minutes(2))) func httpAndTcpChecksSayWhatTheyFound() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("probes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = folder + "/server.log"
        let server = try await LoopbackServer.start(["/usr/bin/python3", "-c", Self.server], output: output)
        defer { server.stop() }
        let http = server.port
        let refusing = try Loopback.refusingPort()
        defer { close(refusing.descriptor) }
        let runner = CheckRunner(nodes: [], drivers: [:])
        func check(_ probe: CheckSpec.Probe) async -> CheckRunner.Result {
            await runner.run(CheckSpec(name: "p", probe: probe, timeout: .seconds(10)), previousMatch: nil, now: Date())
        }
        let base = "http://127.0.0.1:\(http)"
        let ok = await check(.http(url: base + "/ok", expect: 200, bodyMatch: #"healthy v\d"#))
        #expect(ok == CheckRunner.Result(passed: true, message: "GET \(base)/ok answered 200"))
        let down = await check(.http(url: base + "/down", expect: 200, bodyMatch: nil))
        #expect(down == CheckRunner.Result(passed: false, message: "GET \(base)/down answered 503, expected 200"))
        let expectedDown = await check(.http(url: base + "/down", expect: 503, bodyMatch: nil))
        #expect(expectedDown.passed)
        let wrongBody = await check(.http(url: base + "/ok", expect: 200, bodyMatch: "v4"))
        #expect(
            wrongBody
                == CheckRunner.Result(passed: false, message: "GET \(base)/ok answered 200 without /v4/ in its body"))
        let refused = await check(.http(url: "http://127.0.0.1:\(refusing.port)/", expect: 200, bodyMatch: nil))
        #expect(!refused.passed)
        #expect(refused.message.hasPrefix("GET http://127.0.0.1:\(refusing.port)/ failed: "), "\(refused.message)")

        let open = await check(.tcp(host: "127.0.0.1", port: http))
        #expect(open == CheckRunner.Result(passed: true, message: "127.0.0.1:\(http) accepts connections"))
        let closed = await check(.tcp(host: "127.0.0.1", port: refusing.port))
        #expect(!closed.passed)
        #expect(closed.message.hasPrefix("cannot connect to 127.0.0.1:\(refusing.port): "), "\(closed.message)")
    }
}

/// Several notices as one message: the digest's subject, summary and idempotency key, and the
/// Alertmanager and JSON payloads carrying every member.
@Suite struct NoticeDigestTests {
    let at = Date(timeIntervalSince1970: 1_800_000_000)

    func notice(_ key: String, _ severity: Severity) -> Notice {
        Notice(
            incidentID: "\(key)@1", key: key, notifier: "mail", kind: .firing, summary: "\(key) is failing",
            openedAt: at, at: at, idempotencyKey: "\(key)@1/mail/1", severity: severity)
    }

    @Test func aDigestListsEveryNoticeAndIsTheSameMessageWhenSentAgain() throws {
        let members = [notice("check/a", .warning), notice("check/b", .critical), notice("check/c", .warning)]
        let digest = NoticeSender.digest(members)
        #expect(NoticeSender.subject(digest) == "[FIRING critical] 3 notices")
        #expect(digest.summary.contains("• [FIRING warning] check/a\ncheck/a is failing"))
        #expect(digest.summary.contains("• [FIRING critical] check/b\ncheck/b is failing"))
        #expect(NoticeSender.digest(members).idempotencyKey == digest.idempotencyKey)
        #expect(NoticeSender.digest(Array(members.prefix(2))).idempotencyKey != digest.idempotencyKey)
        let manager = try #require(
            try JSONSerialization.jsonObject(
                with: Data(NoticeSender.payload(digest, format: .alertmanager, notifier: "mail", members: members)))
                as? [String: Any])
        let alerts = try #require(manager["alerts"] as? [[String: Any]])
        #expect(alerts.count == 3)
        #expect((alerts[1]["labels"] as? [String: String])?["severity"] == "critical")
        #expect((alerts[0]["labels"] as? [String: String])?["alertname"] == "check/a")
        let json = try #require(
            try JSONSerialization.jsonObject(
                with: Data(NoticeSender.payload(digest, format: .json, notifier: "mail", members: members)))
                as? [String: Any])
        #expect(
            (json["notices"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == [
                "check/a", "check/b", "check/c",
            ])
    }
}
