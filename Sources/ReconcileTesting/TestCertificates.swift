import Foundation

/// A CA, a server certificate for the given addresses (127.0.0.1 by default) and a client
/// certificate, made with the openssl CLI.
public struct TestCertificates: Sendable {
    public let folder: String
    public var ca: String { folder + "/ca.pem" }
    public var serverCert: String { folder + "/server-cert.pem" }
    public var serverKey: String { folder + "/server-key.pem" }
    public var clientCert: String { folder + "/client-cert.pem" }
    public var clientKey: String { folder + "/client-key.pem" }
    /// A client certificate signed by nobody the engine trusts (self-signed).
    public var strangerCert: String { folder + "/stranger-cert.pem" }
    public var strangerKey: String { folder + "/stranger-key.pem" }

    /// - Parameter addresses: the IP addresses the server certificate is valid for.
    public init(folder: String, addresses: [String] = ["127.0.0.1"]) throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let names = addresses.map { "IP:" + $0 }.joined(separator: ",")
        try "subjectAltName = \(names)\nextendedKeyUsage = serverAuth\n".write(
            toFile: folder + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage = clientAuth\n".write(toFile: folder + "/client.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=reconcile test CA",
                "-keyout", folder + "/ca-key.pem", "-out", ca,
            ],
            [
                "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", serverKey,
                "-out",
                folder + "/server.csr",
            ],
            [
                "openssl", "x509", "-req", "-in", folder + "/server.csr", "-CA", ca, "-CAkey", folder + "/ca-key.pem",
                "-CAcreateserial", "-days", "2", "-extfile", folder + "/server.ext", "-out", serverCert,
            ],
            [
                "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=reconcile", "-keyout", clientKey,
                "-out",
                folder + "/client.csr",
            ],
            [
                "openssl", "x509", "-req", "-in", folder + "/client.csr", "-CA", ca, "-CAkey", folder + "/ca-key.pem",
                "-CAcreateserial", "-days", "2", "-extfile", folder + "/client.ext", "-out", clientCert,
            ],
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=reconcile",
                "-addext", "extendedKeyUsage=clientAuth", "-keyout", strangerKey, "-out", strangerCert,
            ],
        ]
        for step in steps {
            let result = try Command.run(step)
            guard result.status == 0 else {
                throw FixtureError("\(step[0...1].joined(separator: " ")): \(result.stderr)")
            }
        }
    }
}
