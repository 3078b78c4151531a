import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReconcileGit
import ReconcileRuntime
import ReconcileServer
import ReconcileStore
import ReconcileTesting
import Testing

/// Every route the controller's HTTP server has (read from its router, so a route added later is
/// walked too), called with each query parameter set to each hostile value, signed in (bearer token
/// and web session): no answer is a 5xx, and the controller still answers afterwards.
@Suite struct HostileParameterTests {
    static let parameters = [
        "limit", "since", "try", "runs", "name", "grep", "run", "next", "done", "app", "task", "incident",
    ]
    static let values = [
        "-1", "0", "1.5", "NaN", "inf", "1e308", "99999999999999999999", "-9223372036854775808", "abc", "", "%00%FF",
        "(a|a)*b", "../../etc/passwd", "/%09/evil.example", String(repeating: "9", count: 4000),
    ]

    /// The routes, as `METHOD path` with `:name` segments.
    static func routeTable(state: String) throws -> [(method: String, path: String)] {
        let store = try Store(stateDirectory: state + "/routes")
        let source = GitManifestSource(source: GitSource(remote: state + "/none", stateDirectory: state + "/routes"))
        let controller = Controller(
            source: source, options: Controller.Options(stateDirectory: state + "/routes"), store: store, log: { _ in })
        let router = ControllerServer.router(
            controller: controller, options: ControllerServer.Options(apiToken: "x", webhookSecret: "y"),
            stateDirectory: state + "/routes")
        return router.routes.map { (String(describing: $0.method), String(describing: $0.path)) }
    }

    @Test(.timeLimit(.minutes(6))) func noParameterValueMakesA5xxOrStopsTheController() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let token = "token-\(UUID().uuidString)"
        let tokenReference = try TestSecrets.file(token)
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 4, memory: 2Gi }
            ---
            kind: App
            name: echoer
            command: ["/bin/sh", "-c", "while true; do echo line; sleep 0.5; done"]
            resources: { cpu: 100m, memory: 32Mi }
            ---
            kind: DAG
            name: etl
            tasks:
              extract:
                command: ["/bin/sh", "-c", "echo extracted"]

            """
        let started = try TestController.start(
            root: root, manifests: manifests, token: tokenReference)
        let controller = started.process
        let log = { started.log }
        let port = try #require(await started.port(), "\(log())")
        let base = "http://127.0.0.1:\(port)"
        let auth = ("Authorization", "Bearer \(token)")
        // A run and collected logs exist, so the routes have something to look at.
        // (409 until the controller has read its first commit: waited for, not slept on.)
        #expect(
            await AlertsEndToEndTests.eventually(60) {
                (try? await WebUITests.request(base + "/api/v1/dags/etl/trigger", method: .POST, headers: [auth]))?
                    .status == 201
            }, "the run was never triggered: \(log())")
        let login = try await WebUITests.request(base + "/login", method: .POST, form: "token=\(token)&next=/")
        let cookie = try #require(login.headers.first(name: "Set-Cookie")).split(separator: ";")[0]

        // A slowloris connection: half a request head, then nothing. Looked at after the walk.
        let slow = try #require(Loopback.connected(port: port))
        defer { close(slow) }
        _ = "GET /healthz HTTP/1.1\r\nHost: x\r\n".withCString { send(slow, $0, strlen($0), 0) }
        // An unsigned webhook announcing 10 MB: refused from its headers, before any body is sent.
        let hook = try #require(Loopback.connected(port: port))
        defer { close(hook) }
        _ = "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n".withCString {
            send(hook, $0, strlen($0), 0)
        }
        let hookAnswer = await Blocking.run { RouterLikeSocket.readSome(hook, seconds: 10) }
        #expect(
            hookAnswer.hasPrefix("HTTP/1.1 401"), "an unsigned webhook was not refused before its body: \(hookAnswer)")

        // Refusals say what is accepted.
        for (path, says) in [
            ("/api/v1/logs?name=echoer&limit=-1", "limit must be a whole number from 1 to 1000000"),
            ("/api/v1/runs?limit=NaN", "limit must be a whole number from 1 to 10000"),
            ("/api/v1/logs?name=echoer&since=inf", "since must be a time in seconds since 1970"),
            ("/logs?name=echoer&since=abc", "since must be a duration such as 15m"),
            ("/dags/etl?runs=0", "runs must be a whole number from 1 to 200"),
            (
                "/?done=evil",
                "done must be one of cancelled, drained, marked, paused, rerun, silenced, triggered, uncordoned, unpaused"
            ),
        ] {
            let answer = try await WebUITests.request(base + path, cookie: String(cookie), headers: [auth])
            #expect(answer.status == 400, "\(path): \(answer.status)")
            #expect(answer.body.contains(says), "\(path): \(answer.body.prefix(300))")
        }

        let routes = try Self.routeTable(state: root.path)
        #expect(routes.count >= 20, "\(routes)")
        var urls: [(method: HTTPMethod, url: String)] = []
        for route in routes {
            let path = route.path.split(separator: "/").map { segment in
                switch segment {
                case ":dag", "{dag}": "etl"
                case ":run", "{run}": "x"
                case ":app", "{app}": "echoer"
                default: String(segment)
                }
            }.joined(separator: "/")
            for parameter in Self.parameters {
                for value in Self.values {
                    let encoded =
                        value.contains("%")
                        ? value : value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    // With the parameters a route needs set to good values, so that the hostile one is
                    // the only thing wrong (a missing `name` would end /logs before `limit` is read).
                    let good = parameter == "name" ? "" : "name=echoer&"
                    urls.append(
                        (
                            route.method == "POST" ? .POST : .GET,
                            base + "/" + path + "?" + good + parameter + "=" + encoded
                        ))
                }
            }
        }
        let requests = urls.count
        let session = String(cookie)
        // Eight at a time; each answer's status (or the error) is collected.
        let failures = await withTaskGroup(of: String?.self) { group in
            var failures: [String] = []
            var next = 0
            func add() {
                // A dead controller (or a flood of failures) ends the walk instead of timing out on
                // every request left.
                guard next < urls.count, failures.count < 40, controller.exitStatus() == nil else { return }
                let (method, url) = urls[next]
                next += 1
                group.addTask {
                    do {
                        let answer = try await WebUITests.request(
                            url, method: method, cookie: session, form: method == .POST ? "" : nil, headers: [auth])
                        return answer.status >= 500 ? "\(method) \(url.prefix(160)): \(answer.status)" : nil
                    } catch {
                        return "\(method) \(url.prefix(160)): \(error)"
                    }
                }
            }
            for _ in 0..<8 { add() }
            while let result = await group.next() {
                if let result { failures.append(result) }
                add()
            }
            return failures
        }
        #expect(failures.isEmpty, "\(failures.count) of \(requests) requests failed: \(failures.prefix(20))")
        #expect(try await WebUITests.request(base + "/healthz").status == 200)
        // The slowloris connection was closed at its head deadline (10 s), not left open.
        let closed = await Blocking.run { RouterLikeSocket.readSome(slow, seconds: 30) }
        #expect(closed == "", "the half-sent request's connection answered: \(closed)")
        #expect(controller.exitStatus() == nil, "the controller ended: \(log())")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0)
    }
}

/// Reading from plain sockets that send requests HTTP clients do not (half a head, a body never sent).
enum RouterLikeSocket {
    /// What arrives within `seconds` until the peer closes or a first answer is complete enough
    /// (its status line); "" when the peer closed without a byte, "(open)" when it stayed silent.
    static func readSome(_ fd: Int32, seconds: Int) -> String {
        var received = [UInt8]()
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while Date() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 200) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return String(decoding: received, as: UTF8.self) }
            received += buffer[0..<count]
            if received.contains(0x0A) { return String(decoding: received, as: UTF8.self) }
        }
        return received.isEmpty ? "(open)" : String(decoding: received, as: UTF8.self)
    }
}
