import AsyncHTTPClient
import Foundation
import NIOCore

/// A headless Chromium driven over the W3C WebDriver protocol by Debian's `chromedriver`: what a
/// browser test needs (navigate, find, type, click, read computed styles, screenshots).
public final class WebDriver: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let base: String
    let session: String
    let process: ChildProcess

    /// Starts chromedriver on a free loopback port and opens a headless session.
    public static func start(log: String) async throws -> WebDriver {
        let port = try Loopback.freePort()
        let process = try ChildProcess(
            ["/usr/bin/chromedriver", "--port=\(port)", "--allowed-ips=127.0.0.1"], output: log)
        guard await Loopback.waitForListener(port: port, timeout: 30) else {
            process.signal(SIGKILL)
            throw Failure(description: "chromedriver did not listen on \(port); see \(log)")
        }
        let base = "http://127.0.0.1:\(port)"
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                        ],
                    ],
                ]
            ]
        ]
        let answer = try await call(base, "POST", "/session", capabilities)
        guard let value = answer["value"] as? [String: Any], let session = value["sessionId"] as? String else {
            process.signal(SIGKILL)
            throw Failure(description: "no WebDriver session: \(answer)")
        }
        return WebDriver(base: base, session: session, process: process)
    }

    init(base: String, session: String, process: ChildProcess) {
        self.base = base
        self.session = session
        self.process = process
    }

    /// Ends the session and stops chromedriver (and its browser).
    public func quit() async {
        _ = try? await Self.call(base, "DELETE", "/session/\(session)", nil)
        process.signal(SIGTERM)
        _ = await process.wait(timeout: 10)
    }

    public func navigate(_ url: String) async throws {
        _ = try await command("POST", "/url", ["url": url])
    }

    public func currentURL() async throws -> String {
        try await command("GET", "/url", nil) as? String ?? ""
    }

    public func source() async throws -> String {
        try await command("GET", "/source", nil) as? String ?? ""
    }

    /// The first element matching the CSS selector; nil when there is none.
    public func find(_ selector: String) async throws -> String? {
        do {
            let value = try await command("POST", "/element", ["using": "css selector", "value": selector])
            return (value as? [String: Any])?.values.first as? String
        } catch let failure as Failure where failure.description.contains("no such element") {
            return nil
        }
    }

    public func click(_ element: String) async throws {
        _ = try await command("POST", "/element/\(element)/click", [:])
    }

    public func type(_ element: String, _ text: String) async throws {
        _ = try await command("POST", "/element/\(element)/value", ["text": text])
    }

    /// A computed CSS property (e.g. `fill`, `background-color`).
    public func css(_ element: String, _ property: String) async throws -> String {
        try await command("GET", "/element/\(element)/css/\(property)", nil) as? String ?? ""
    }

    public func attribute(_ element: String, _ name: String) async throws -> String? {
        try await command("GET", "/element/\(element)/attribute/\(name)", nil) as? String
    }

    public func text(_ element: String) async throws -> String {
        try await command("GET", "/element/\(element)/text", nil) as? String ?? ""
    }

    /// The page as PNG, written to `path`.
    public func screenshot(to path: String) async throws {
        guard let encoded = try await command("GET", "/screenshot", nil) as? String,
            let data = Data(base64Encoded: encoded)
        else { throw Failure(description: "no screenshot") }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func command(_ method: String, _ path: String, _ body: [String: Any]?) async throws -> Any? {
        try await Self.call(base, method, "/session/\(session)" + path, body)["value"] ?? nil
    }

    static func call(
        _ base: String, _ method: String, _ path: String, _ body: [String: Any]?
    ) async throws
        -> [String: Any]
    {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Content-Type", value: "application/json")
        if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let data = try await response.body.collect(upTo: 64 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
        if response.status.code >= 400 {
            let value = object["value"] as? [String: Any]
            throw Failure(
                description:
                    "WebDriver \(method) \(path): \(value?["error"] ?? response.status.code) \(value?["message"] ?? "")"
            )
        }
        return object
    }
}
