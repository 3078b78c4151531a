import Foundation

/// A test CA and one server certificate per host name (subjectAltName DNS:host), made with the
/// openssl CLI: a client that trusts the CA and checks the host name accepts a host's certificate
/// only for that host.
public struct HostCertificates: Sendable {
    public let folder: String
    public var ca: String { folder + "/ca.pem" }
    public func cert(_ host: String) -> String { folder + "/\(host)-cert.pem" }
    public func key(_ host: String) -> String { folder + "/\(host)-key.pem" }

    public init(folder: String, hosts: [String]) throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var steps: [[String]] = [
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=reconcile router test CA", "-keyout", folder + "/ca-key.pem", "-out", folder + "/ca.pem",
            ]
        ]
        for host in hosts {
            try "subjectAltName = DNS:\(host)\nextendedKeyUsage = serverAuth\n".write(
                toFile: folder + "/\(host).ext", atomically: true, encoding: .utf8)
            steps.append([
                "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(host)", "-keyout", key(host), "-out",
                folder + "/\(host).csr",
            ])
            steps.append([
                "openssl", "x509", "-req", "-in", folder + "/\(host).csr", "-CA", folder + "/ca.pem", "-CAkey",
                folder + "/ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", folder + "/\(host).ext", "-out",
                cert(host),
            ])
        }
        for step in steps {
            let result = try Command.run(step)
            guard result.status == 0 else {
                throw FixtureError("\(step[0...1].joined(separator: " ")): \(result.stderr)")
            }
        }
    }
}
