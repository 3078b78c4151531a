import AsyncHTTPClient
import Foundation
import ReconcileLogs
import ReconcileRouter
import ReconcileRuntime
import ReconcileTesting
import Testing

/// What the router counts reaches `/metrics` and, for ports that ask for it, the App's logs.
@Suite struct RouterTrafficTests {
    @Test func requestsAreCountedAndAccessLogsGoToTheAppsLogs() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("traffic-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let metrics = ControllerMetrics()
        let logs = LogStore(stateDirectory: folder)
        let traffic = RouterTraffic(registry: metrics.registry, logs: logs)
        let a = try await HTTPTestBackend.start("a")
        let closing = try await ClosingServer.start()
        let router = Router(observer: traffic)
        let port = try await serving(
            router,
            httpPort([
                Route(
                    app: "web", port: "http", hosts: ["web.test"], backends: [closing.backend(), a.backend],
                    accessLog: true),
                Route(app: "quiet", port: "http", hosts: ["quiet.test"], backends: [a.backend]),
            ]))
        for path in ["/", "/x?id=1", "/"] {
            let answer = await RawHTTP.exchange(
                port: port,
                "GET \(path) HTTP/1.1\r\nHost: web.test\r\nX-Request-Id: req-\(path.count)\r\nConnection: close\r\n\r\n"
            )
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text)")
        }
        _ = await RawHTTP.exchange(port: port, "GET / HTTP/1.1\r\nHost: quiet.test\r\nConnection: close\r\n\r\n")
        _ = await RawHTTP.exchange(port: port, "GET / HTTP/1.1\r\nHost: nobody.test\r\nConnection: close\r\n\r\n")
        traffic.flush()
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"reconcile_router_requests_total{app="web",port="http",code="2xx"} 3"#), "\(text)")
        #expect(text.contains(#"reconcile_router_requests_total{app="quiet",port="http",code="2xx"} 1"#))
        #expect(text.contains(#"reconcile_router_requests_total{app="-",port="\#(port)",code="4xx"} 1"#))
        #expect(text.contains(#"reconcile_router_request_duration_seconds_count{app="web",port="http"} 3"#))
        // The closing replica made at least one request go to the other (they alternate).
        #expect(text.contains(#"reconcile_router_retries_total{app="web",port="http"}"#))
        // The router counts a connection out when its side closes, which may come after the client saw the end.
        let closed = Date().addingTimeInterval(60)
        func connectionsText() -> String { String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self) }
        while !connectionsText().contains(#"reconcile_router_connections{publish="\#(port)"} 0"#), Date() < closed {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(connectionsText().contains(#"reconcile_router_connections{publish="\#(port)"} 0"#))
        // One line per request of the port with accessLog, none for the other, under source "router".
        let lines = LogStore.search(logs.segmentsByReplicaName(app: "web"), pattern: nil, since: nil)
        #expect(lines.count == 3, "\(lines.map(\.line.text))")
        #expect(lines.allSatisfy { $0.source == "router" })
        #expect(
            lines.map(\.line.text).contains { $0.contains("\"GET /x?id=1\" 200 1 ") && $0.contains("id=req-7") },
            "\(lines.map(\.line.text))")
        #expect(LogStore.search(logs.segmentsByReplicaName(app: "quiet"), pattern: nil, since: nil).isEmpty)
        await router.shutdown()
        try await closing.channel.close()
    }
}
