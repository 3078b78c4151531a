import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReconcileStore
import ReconcileTesting
import Testing

/// The web UI against a controller running a real DAG with a failing task: over plain HTTP, the
/// login, redirect, 401, CSRF and escaping rules; in headless Chromium (chromedriver), the graph
/// colouring a failed task red and its downstream upstreamFailed, "Rerun failed" after a fixing
/// commit turning them green, and a screenshot of every page (under `.build/ui-screenshots/`).
@Suite struct WebUITests {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    /// Redirects are what these tests look at: not followed.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func request(
        _ url: String, method: HTTPMethod = .GET, cookie: String? = nil, form: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await client.execute(request, timeout: .seconds(20))
        let data = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: data))
    }

    static func manifests(transform: String) -> String {
        """
        kind: Node
        name: here
        process: {}
        capacity: { cpu: 4, memory: 2Gi }
        ---
        kind: App
        name: echoer
        command: ["/bin/sh", "-c", "while true; do echo '<script>alert(1)</script> hello'; sleep 0.3; done"]
        resources: { cpu: 100m, memory: 32Mi }
        ---
        kind: DAG
        name: etl
        tasks:
          extract:
            command: ["/bin/sh", "-c", "echo '<script>alert(2)</script>'"]
          transform:
            after: [extract]
            command: ["/bin/sh", "-c", "\(transform)"]
          load:
            after: [transform]
            command: ["/bin/sh", "-c", "echo loaded"]

        """
    }

    @Test(.timeLimit(.minutes(6))) func theUIShowsAFailedRunAndRerunsIt() async throws {
        try await HeavyTests.exclusive {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            let token = "web-\(UUID().uuidString)"
            let tokenReference = try TestSecrets.file(token)
            let repository = try AlertsEndToEndTests.repository(
                at: root, manifests: Self.manifests(transform: "echo broken >&2; exit 3"))
            let state = root.path + "/state"
            let output = root.path + "/controller.log"
            let controller = try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1s",
                    "--tick", "500ms", "--listen", "127.0.0.1:0", "--api-token", tokenReference,
                ], output: output, endsWorkloadsUnder: state)
            defer { controller.signal(SIGTERM) }
            let log = { DAGCLITests.contents(output) }
            #expect(await AlertsEndToEndTests.eventually(30) { log().contains("api: listening on http://127.0.0.1:") })
            let port = try #require(
                log().split(separator: "\n").first { $0.contains("api: listening on") }?.split(separator: ":").last
                    .flatMap { Int($0) })
            let base = "http://127.0.0.1:\(port)"
            let cookie = try await securityRules(base: base, token: token, state: state)
            // Escaping: the App's log line and the task's command hold <script>; the pages show it as text.
            #expect(await AlertsEndToEndTests.eventually(30) { DAGCLITests.contents(output).contains("in sync") })
            var appPage = ""
            for _ in 0..<60 where !appPage.contains("hello") {
                appPage = try await Self.request(base + "/apps/echoer", cookie: cookie).body
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(appPage.contains("&lt;script&gt;alert(1)&lt;/script&gt; hello"), "\(appPage.suffix(2000))")
            let dagPage = try await Self.request(base + "/dags/etl", cookie: cookie).body
            #expect(dagPage.contains("&lt;script&gt;alert(2)&lt;/script&gt;"))
            for page in [appPage, dagPage] { #expect(!page.lowercased().contains("<script")) }

            try await browse(base: base, token: token, repository: repository, state: state, log: log)
        }
    }

    /// Without `--api-token` the controller generates one into `<state>/api-token` (owner-only,
    /// kept across restarts, never logged): the API and the UI are never open without a token.
    @Test(.timeLimit(.minutes(2))) func withoutATokenOneIsGeneratedAndKept() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("web-token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = try AlertsEndToEndTests.repository(
            at: root, manifests: "kind: Node\nname: here\nprocess: {}\n")
        let state = root.path + "/state"
        var tokens: [String] = []
        for round in 0..<2 {
            let output = root.path + "/controller-\(round).log"
            let controller = try ChildProcess(
                [
                    CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--listen",
                    "127.0.0.1:0",
                ], output: output, endsWorkloadsUnder: state)
            let log = { DAGCLITests.contents(output) }
            #expect(await AlertsEndToEndTests.eventually(30) { log().contains("web UI: http://127.0.0.1:") })
            let port = try #require(
                log().split(separator: "\n").first { $0.contains("api: listening on") }?.split(separator: ":").last
                    .flatMap { Int($0) })
            let token = try String(contentsOfFile: state + "/api-token", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.count == 64)
            let mode = try FileManager.default.attributesOfItem(atPath: state + "/api-token")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let base = "http://127.0.0.1:\(port)"
            #expect(try await Self.request(base + "/api/v1/status").status == 401)
            #expect(
                try await Self.request(base + "/api/v1/status", headers: [("Authorization", "Bearer \(token)")]).status
                    == 200)
            #expect(try await Self.request(base + "/login", method: .POST, form: "token=\(token)&next=/").status == 303)
            #expect(!log().contains(token))
            tokens.append(token)
            controller.signal(SIGTERM)
            #expect(await controller.wait(timeout: 30) != nil)
        }
        #expect(tokens[0] == tokens[1])
    }

    /// Pages without the cookie redirect to the login form, POSTs get 401; a wrong token is refused;
    /// with the cookie, a POST without (or with a wrong) CSRF token, or from another origin, is 403.
    /// Returns the session cookie.
    func securityRules(base: String, token: String, state: String) async throws -> String {
        for path in [
            "/", "/dags", "/dags/etl", "/dags/etl/runs/x", "/apps/echoer", "/nodes", "/alerts", "/logs?name=echoer",
        ] {
            let answer = try await Self.request(base + path)
            #expect(answer.status == 303, "\(path)")
            #expect(answer.headers.first(name: "Location")?.hasPrefix("/login?next=") == true, "\(path)")
        }
        for path in ["/dags/etl/trigger", "/dags/etl/runs/x/rerun", "/alerts/silence", "/logout"] {
            #expect(try await Self.request(base + path, method: .POST, form: "csrf=x").status == 401, "\(path)")
        }
        let forged = "0123.9999999999.abcdef"
        #expect(try await Self.request(base + "/", cookie: "reconcile_session=\(forged)").status == 303)
        let wrong = try await Self.request(base + "/login", method: .POST, form: "token=nope&next=/")
        #expect(wrong.status == 401)
        #expect(wrong.headers.first(name: "Set-Cookie") == nil)
        let login = try await Self.request(
            base + "/login", method: .POST,
            form: "token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&next=/dags")
        #expect(login.status == 303)
        #expect(login.headers.first(name: "Location") == "/dags")
        let setCookie = try #require(login.headers.first(name: "Set-Cookie"))
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax"] { #expect(setCookie.contains(attribute)) }
        let cookie = String(setCookie.split(separator: ";")[0])
        let overview = try await Self.request(base + "/", cookie: cookie)
        #expect(overview.status == 200)
        #expect(overview.body.contains("<footer>reconcile 0.2.0 (commit "), "the footer names the build")
        #expect(overview.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
        let csrf = try #require(
            overview.body.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.1) })
        for form in ["", "csrf=", "csrf=\(String(repeating: "0", count: 64))"] {
            #expect(
                try await Self.request(base + "/dags/etl/trigger", method: .POST, cookie: cookie, form: form).status
                    == 403, "\(form)")
        }
        let crossSite = try await Self.request(
            base + "/dags/etl/trigger", method: .POST, cookie: cookie, form: "csrf=\(csrf)",
            headers: [("Origin", "http://evil.example")])
        #expect(crossSite.status == 403)
        #expect(try Store(stateDirectory: state).runs(dag: "etl").isEmpty)  // none of those ran anything
        return cookie
    }

    /// Headless Chromium: log in, trigger, see the failure in the graph, fix in git, rerun failed,
    /// see it succeed; a screenshot of every page.
    func browse(base: String, token: String, repository: URL, state: String, log: () -> String) async throws {
        let shots = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".build/ui-screenshots").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let browser = try await WebDriver.start(log: state + "/../chromedriver.log")
        do {
            try await browser.navigate(base + "/dags/etl")
            #expect(try await browser.currentURL().contains("/login?next="))
            try await browser.screenshot(to: shots + "/login.png")
            try await browser.type(try #require(try await browser.find("#token")), token)
            try await browser.click(try #require(try await browser.find("#login")))
            #expect(try await waitForURL(browser, containing: base + "/dags/etl"))
            #expect(try await browser.currentURL() == base + "/dags/etl")
            try await browser.click(try #require(try await browser.find("#trigger")))
            let landed = try await waitForURL(browser, containing: "/dags/etl/runs/manual__")
            let landedAt = try await browser.currentURL()
            let landedOn = try await browser.source().suffix(1500)
            #expect(landed, "\(landedAt): \(landedOn)")
            let runURL = try await browser.currentURL().components(separatedBy: "?")[0]
            // The run fails at transform; load never runs.
            #expect(try await waitForState(browser, runURL, task: "load", "upstreamFailed"), "\(log())")
            #expect(try await taskState(browser, "transform") == "failed")
            #expect(try await fill(browser, "transform") == "rgb(214, 56, 58)")  // red
            #expect(try await fill(browser, "load") == "rgb(242, 140, 40)")  // orange
            #expect(try await fill(browser, "extract") == "rgb(46, 157, 74)")  // green
            try await browser.screenshot(to: shots + "/run-failed.png")
            try await browser.navigate(base + "/dags/etl")
            #expect(try await taskState(browser, "transform") == "failed")
            #expect(try await fill(browser, "transform") == "rgb(214, 56, 58)")
            try await browser.screenshot(to: shots + "/dag-failed.png")

            // The failed run is an incident: silence it from the alerts page.
            var incidentShown = false
            for _ in 0..<60 where !incidentShown {
                try await browser.navigate(base + "/alerts")
                incidentShown = try await browser.find("input[name=name][value='dag/etl']") != nil
                if !incidentShown { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(incidentShown)
            try await browser.click(try #require(try await browser.find("form[action='/alerts/silence'] button")))
            #expect(try await waitForURL(browser, containing: "done=silenced"))
            #expect(try await browser.source().contains("silenced until"))
            #expect(try Store(stateDirectory: state).silences()["dag/etl"] != nil)
            try await browser.screenshot(to: shots + "/alerts-silenced.png")

            // A fixing commit; once the controller has it, "Rerun failed" runs transform and load.
            try Self.manifests(transform: "echo transformed").write(
                to: repository.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
            try ValidateRepositoryCLITests.git(["commit", "-q", "-am", "fix transform"], in: repository)
            let fixed = try Command.run(["git", "-C", repository.path, "rev-parse", "HEAD"]).stdout.prefix(12)
            #expect(await AlertsEndToEndTests.eventually(30) { log().contains("commit \(fixed)") })
            try await browser.navigate(runURL)
            try await browser.click(try #require(try await browser.find("#rerun-failed")))
            #expect(try await waitForURL(browser, containing: "done=rerun"))
            #expect(try await waitForState(browser, runURL, task: "load", "succeeded"), "\(log())")
            for task in ["extract", "transform", "load"] {
                #expect(try await taskState(browser, task) == "succeeded")
                #expect(try await fill(browser, task) == "rgb(46, 157, 74)")
            }
            try await browser.screenshot(to: shots + "/run-rerun-succeeded.png")
            let runID = String(runURL.split(separator: "/").last!).removingPercentEncoding!
            let tries = try Store(stateDirectory: state).attempts(dag: "etl", runID: runID)
            #expect(tries.filter { $0.task == "transform" }.map(\.tryNumber) == [1, 2])
            #expect(tries.filter { $0.task == "extract" }.map(\.tryNumber) == [1])

            // "Rerun with downstream" on transform runs transform and load again, not extract.
            try await browser.click(try #require(try await browser.find("#row-transform button")))
            #expect(try await waitForURL(browser, containing: "done=rerun"))
            var again: [AttemptRecord] = []
            for _ in 0..<120 {
                again = try Store(stateDirectory: state).attempts(dag: "etl", runID: runID)
                if again.filter({ $0.task == "load" && $0.state == .succeeded }).count == 2 { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(again.filter { $0.task == "transform" }.map(\.tryNumber) == [1, 2, 3])
            #expect(again.filter { $0.task == "load" }.map(\.tryNumber) == [1, 2])
            #expect(again.filter { $0.task == "extract" }.map(\.tryNumber) == [1])

            for (name, path) in [
                ("overview", "/"), ("dag", "/dags/etl"), ("dags", "/dags"), ("app", "/apps/echoer"),
                ("nodes", "/nodes"), ("alerts", "/alerts"), ("logs", "/logs?name=echoer&grep=hello&since=1h"),
            ] {
                try await browser.navigate(base + path)
                #expect(try await browser.currentURL().hasPrefix(base + path.prefix { $0 != "?" }), "\(path)")
                try await browser.screenshot(to: shots + "/\(name).png")
            }
            #expect(try await browser.source().contains("hello"))  // the log search found the lines
            try await browser.navigate(base + "/dags/etl")
            #expect(try await fill(browser, "transform") == "rgb(46, 157, 74)")
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        print("web UI screenshots: \(shots)")
    }

    func taskState(_ browser: WebDriver, _ task: String) async throws -> String? {
        guard let node = try await browser.find("g#task-\(task)") else { return nil }
        return try await browser.attribute(node, "data-state")
    }

    func fill(_ browser: WebDriver, _ task: String) async throws -> String {
        guard let rect = try await browser.find("g#task-\(task) rect") else { return "" }
        return try await browser.css(rect, "fill")
    }

    /// A click's form submission completes (the browser lands on the redirect's target).
    func waitForURL(_ browser: WebDriver, containing part: String) async throws -> Bool {
        for _ in 0..<50 {
            if try await browser.currentURL().contains(part) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Reloads `url` until the task shows `expected` in the graph (60 s at most).
    func waitForState(_ browser: WebDriver, _ url: String, task: String, _ expected: String) async throws -> Bool {
        for _ in 0..<120 {
            try await browser.navigate(url)
            if try await taskState(browser, task) == expected { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }
}
