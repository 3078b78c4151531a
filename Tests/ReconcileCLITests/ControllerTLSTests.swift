import AsyncHTTPClient
import Foundation
import NIOSSL
import ReconcileTesting
import Testing

/// The controller's own HTTP server over TLS (`--tls-cert`, `--tls-key`), and what its login page
/// says when it serves plain HTTP (browsers drop its Secure cookie there, except on localhost).
@Suite struct ControllerTLSTests {
    static let manifests = """
        kind: Node
        name: here
        process: {}
        capacity: { cpu: 2, memory: 1Gi }

        """

    @Test(.timeLimit(.minutes(3))) func theServerAnswersOverTLSAndThePlainLoginPageSaysWhy() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let certificates = try await Blocking.run {
            try TestCertificates(folder: root.path + "/certs", addresses: ["127.0.0.1"])
        }
        let tokenReference = try TestSecrets.file("tls-\(UUID().uuidString)")
        let secure = try TestController.start(
            root: root.appendingPathComponent("secure"), manifests: Self.manifests,
            token: tokenReference,
            extraArguments: ["--tls-cert", certificates.serverCert, "--tls-key", "file:" + certificates.serverKey])
        defer { secure.process.signal(SIGKILL) }
        let port = try #require(await secure.port(), "\(secure.log)")
        #expect(secure.log.contains("api: listening on https://127.0.0.1:\(port)"), "\(secure.log)")
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificates.ca)
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let login = try await client.execute(
            HTTPClientRequest(url: "https://127.0.0.1:\(port)/login"), timeout: .seconds(20))
        let page = String(buffer: try await login.body.collect(upTo: 1 << 20))
        #expect(login.status == .ok)
        #expect(!page.contains("plain-http"), "a TLS server's login page warns about plain HTTP")
        try await client.shutdown()
        // Plain HTTP to the TLS port gets no page.
        let plainAnswer = try? await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/login"), timeout: .seconds(10))
        #expect(plainAnswer?.status != .ok)

        let plain = try TestController.start(
            root: root.appendingPathComponent("plain"), manifests: Self.manifests,
            token: tokenReference)
        defer { plain.process.signal(SIGKILL) }
        let plainPort = try #require(await plain.port(), "\(plain.log)")
        let plainLogin = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(plainPort)/login"), timeout: .seconds(20))
        let plainPage = String(buffer: try await plainLogin.body.collect(upTo: 1 << 20))
        #expect(plainPage.contains("id=\"plain-http\""))
        #expect(plainPage.contains("--tls-cert"))
        secure.process.signal(SIGTERM)
        plain.process.signal(SIGTERM)
        _ = await secure.process.wait(timeout: 30)
        _ = await plain.process.wait(timeout: 30)
    }

    @Test func aCertificateWithoutItsKeyOrAnUnreadableOneIsRefused() async throws {
        let alone = try await CLITests.run([
            "controller", "--state", "/nonexistent-state", "--tls-cert", "/etc/hostname",
        ])
        #expect(alone.status == 1)
        #expect(alone.stderr.contains("--tls-cert and --tls-key go together"), "\(alone.stderr)")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tls-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try "not a certificate\n".write(to: root.appendingPathComponent("cert.pem"), atomically: true, encoding: .utf8)
        let garbage = try await CLITests.run([
            "controller", "--repo", root.path, "--state", root.path + "/state", "--tls-cert", root.path + "/cert.pem",
            "--tls-key", root.path + "/cert.pem",
        ])
        #expect(garbage.status == 1)
        #expect(garbage.stderr.contains("--tls-cert does not hold a PEM certificate chain"), "\(garbage.stderr)")
    }
}
