import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileTesting
import Testing

/// The Docker driver negotiates the Engine API version: it asks `/version`, speaks the engine's own
/// version when that is older than its preferred 1.43 (down to 1.40), 1.43 when the engine is newer,
/// and refuses an engine older than 1.40 with a message that says to upgrade.
@Suite struct DockerAPIVersionTests {
    /// A fake engine (Python, loopback, a port it binds itself) answering `/version` with the given
    /// API version and `/vX.Y/info` with a small document; it logs every request path and reports its port.
    static let fakeEngine = """
        import http.server, json, sys
        api, log = sys.argv[1], sys.argv[2]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with open(log, "a") as f: f.write(self.path + "\\n")
                if self.path == "/version":
                    body = {"ApiVersion": api, "Version": "20.10.24", "MinAPIVersion": "1.12"}
                elif self.path.endswith("/info"):
                    body = {"NCPU": 2, "MemTotal": 1073741824, "ServerVersion": "20.10.24"}
                else:
                    self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
                data = json.dumps(body).encode()
                self.send_response(200); self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
            def log_message(self, *args): pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
        """

    static func withFakeEngine(api: String, _ body: (DockerDriver, () -> [String]) async throws -> Void) async throws {
        let folder = try temporaryState("fake-engine")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = folder + "/server.log"
        let requests = folder + "/requests.log"
        let server = try await LoopbackServer.start(
            ["/usr/bin/python3", "-c", fakeEngine, api, requests], output: output)
        defer { server.stop() }
        let driver = try DockerDriver(node: "fake", endpoint: "tcp://127.0.0.1:\(server.port)", timeout: .seconds(10))
        do {
            try await body(driver) {
                ((try? String(contentsOfFile: requests, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
        } catch {
            try await driver.shutdown()
            throw error
        }
        try await driver.shutdown()
    }

    @Test(
        .timeLimit(.minutes(2)),
        arguments: [("1.41", "1.41"), ("1.40", "1.40"), ("1.43", "1.43"), ("1.47", "1.43"), ("2.0", "1.43")])
    func anEngineIsSpokenToAtTheNegotiatedVersion(engine: String, spoken: String) async throws {
        try await Self.withFakeEngine(api: engine) { driver, requests in
            let info = try await driver.info()
            #expect(info.engine == "docker 20.10.24 (API \(spoken))")
            #expect(info.capacity.cpu.millicores == 2000)
            // Asked once, then every call carries the negotiated prefix.
            _ = try await driver.info()
            #expect(requests() == ["/version", "/v\(spoken)/info", "/v\(spoken)/info"])
        }
    }

    @Test(.timeLimit(.minutes(2))) func anEngineOlderThan140IsRefused() async throws {
        try await Self.withFakeEngine(api: "1.39") { driver, requests in
            do {
                _ = try await driver.info()
                Issue.record("an engine with API 1.39 was accepted")
            } catch let error as DriverError {
                #expect("\(error)".contains("engine API 1.39 is older than the oldest supported, 1.40; upgrade Docker"))
            }
            #expect(requests() == ["/version"])
        }
    }

    /// The machine's own engine (scripts/setup starts it): spoken to at its own API version when
    /// that is older than 1.43 (Debian 12's dockerd 20.10 speaks 1.41), else at 1.43.
    @Test(.timeLimit(.minutes(2))) func theRealEngineIsSpokenToAtTheNegotiatedVersion() async throws {
        let version = try Command.run(["docker", "version", "--format", "{{.Server.APIVersion}}"])
        try #require(version.status == 0, "\(version.stderr)")
        let parts = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").compactMap {
            Int($0)
        }
        let server = (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
        let expected = server < (1, 43) ? "\(server.0).\(server.1)" : "1.43"
        let driver = try DockerDriver(node: "real", endpoint: "unix:///var/run/docker.sock")
        let info = try await driver.info()
        try await driver.shutdown()
        #expect(info.engine.hasSuffix("(API \(expected))"), "\(info.engine), engine speaks \(version.stdout)")
    }
}
