import Foundation

/// A self-signed certificate for 127.0.0.1 (openssl CLI): a server certificate that no system CA
/// signed, for tests that a client verifies what it is shown.
public struct TLSTestCertificate: Sendable {
    public let certificate: String
    public let key: String

    public init(folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        certificate = folder + "/cert.pem"
        key = folder + "/key.pem"
        let result = try Command.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ])
        guard result.status == 0 else { throw FixtureError("openssl req: \(result.stderr)") }
    }
}
