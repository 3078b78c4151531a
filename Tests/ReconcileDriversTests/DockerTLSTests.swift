import Foundation
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileDrivers

@Suite struct DockerTLSTests {
    @Test(.timeLimit(.minutes(3))) func tcpWithClientCertificatesWorksAndWithoutThemDoesNot() async throws {
        let folder = try temporaryState("tls")
        let certificates = try await Blocking.run { try TestCertificates(folder: folder) }
        defer { try? FileManager.default.removeItem(atPath: certificates.folder) }
        let port = try Loopback.freePort()
        let engine = try await DockerEngine.start(extraArguments: [
            "--tlsverify", "--tlscacert", certificates.ca, "--tlscert", certificates.serverCert, "--tlskey",
            certificates.serverKey, "--host", "tcp://127.0.0.1:\(port)",
        ])
        defer { engine.shutdown() }
        let driver = try DockerDriver(
            node: "tls-node", endpoint: "tcp://127.0.0.1:\(port)",
            tls: NodeSpec.TLSFiles(ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey))
        do {
            #expect(try await driver.info().capacity.cpu.millicores > 0)
            let started = try await driver.run(
                ContainerSpec(name: "over-tls", image: TestImage.name, command: ["/bin/sleep", "60"]))
            #expect(try await driver.list().map(\.id) == [started.id])
            try await driver.remove(started.id)
            // The event stream holds through quiet longer than the node's timeout (with the
            // timeout as the stream's read timeout it broke and reconnected after each second of
            // quiet here, and every 10 s by default).
            let watcher = try DockerDriver(
                node: "tls-node", endpoint: "tcp://127.0.0.1:\(port)",
                tls: NodeSpec.TLSFiles(ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey),
                timeout: .seconds(1))
            let notices = try #require(watcher.exitNotices())
            let deadline = Date().addingTimeInterval(30)
            while !notices.isLive, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            let events = try #require(DockerEvents.existing(baseURL: watcher.baseURL))
            let generation = try #require(events.listingGeneration())
            try await Task.sleep(for: .seconds(4))
            #expect(events.listingGeneration() == generation, "the stream broke while the engine was quiet")
        } catch {
            try await driver.shutdown()
            throw error
        }
        try await driver.shutdown()
        _ = engine

        // Plain HTTP to the TLS port is refused by the engine's handshake: the node is unreachable.
        let plain = try DockerDriver(node: "plain", endpoint: "tcp://127.0.0.1:\(port)", timeout: .seconds(3))
        do {
            _ = try await plain.info()
            Issue.record("a plain HTTP client was served")
        } catch let error as DriverError {
            #expect(error.kind == .unreachable || error.kind == .engine, "\(error)")
        }
        try await plain.shutdown()
        // TLS that trusts the engine's CA but shows a client certificate the engine did not issue:
        // the engine refuses the handshake.
        let stranger = try DockerDriver(
            node: "stranger", endpoint: "tcp://127.0.0.1:\(port)",
            tls: NodeSpec.TLSFiles(ca: certificates.ca, cert: certificates.strangerCert, key: certificates.strangerKey),
            timeout: .seconds(3))
        do {
            _ = try await stranger.info()
            Issue.record("a client with a certificate from another CA was served")
        } catch let error as DriverError {
            #expect(error.kind == .unreachable || error.kind == .engine, "\(error)")
        }
        try await stranger.shutdown()
        // TLS without any client certificate (curl trusting the CA): refused; the same request with
        // the issued client certificate is answered, so the refusal is about the certificate.
        let url = "https://127.0.0.1:\(port)/_ping"
        let anonymous = try Command.run(["curl", "-sS", "--max-time", "10", "--cacert", certificates.ca, url])
        #expect(anonymous.status != 0, "served without a client certificate: \(anonymous.stdout)")
        let issued = try Command.run([
            "curl", "-sS", "--max-time", "10", "--cacert", certificates.ca, "--cert", certificates.clientCert, "--key",
            certificates.clientKey, url,
        ])
        #expect(issued.status == 0 && issued.stdout == "OK", "\(issued.stdout) \(issued.stderr)")
        // Missing certificate files are a clear configuration error.
        #expect(throws: DriverError.self) {
            _ = try DockerDriver(
                node: "bad", endpoint: "tcp://127.0.0.1:\(port)",
                tls: NodeSpec.TLSFiles(ca: "/nonexistent/ca.pem", cert: "/nonexistent/c.pem", key: "/nonexistent/k.pem")
            )
        }
        await engine.shutdownOffPool()
    }
}
