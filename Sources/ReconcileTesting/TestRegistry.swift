import Foundation

/// A private registry for tests: Debian's `docker-registry` (distribution 2.8) with htpasswd
/// auth, serving TLS with a test CA's certificate on an address the test owns. Engines trust the
/// CA through /etc/docker/certs.d/ADDRESS:PORT/ca.crt (removed again by `shutdown`). Images are
/// pushed into it from the local engine's test images, so no outside registry is reached.
public final class TestRegistry: @unchecked Sendable {
    /// `address:port`, as image names write it.
    public let server: String
    public let username = "reconcile"
    public let password: String
    let root: String
    let process: Process
    let trustFolder: String
    private let lock = NSLock()
    private var isShutDown = false

    /// - Parameters:
    ///   - address: an address of this host the engines reach (a `NamespaceCluster`'s gateway).
    ///   - certificates: their server certificate must be valid for `address`.
    public init(address: String, certificates: TestCertificates) throws {
        root = "/tmp/rcreg-" + String(UUID().uuidString.prefix(6)).lowercased()
        password = UUID().uuidString
        let port = try Loopback.freePort()
        server = "\(address):\(port)"
        trustFolder = "/etc/docker/certs.d/\(server)"
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        try "\(getpid())\n".write(toFile: root + "/owner", atomically: true, encoding: .utf8)
        try server.write(toFile: root + "/server", atomically: true, encoding: .utf8)
        let hash = try Command.run(["htpasswd", "-Bbn", username, password])
        guard hash.status == 0 else { throw FixtureError("htpasswd: \(hash.stderr)") }
        try hash.stdout.write(toFile: root + "/htpasswd", atomically: true, encoding: .utf8)
        let config = """
            version: 0.1
            log: { level: warn }
            storage: { filesystem: { rootdirectory: \(root)/data } }
            http:
              addr: \(server)
              tls: { certificate: \(certificates.serverCert), key: \(certificates.serverKey) }
            auth:
              htpasswd: { realm: reconcile-test, path: \(root)/htpasswd }
            """
        try config.write(toFile: root + "/config.yml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: trustFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: certificates.ca, toPath: trustFolder + "/ca.crt")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", root + "/config.yml"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        try "\(process.processIdentifier)\n".write(toFile: root + "/pid", atomically: true, encoding: .utf8)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let ping = try Command.run([
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificates.ca,
                "https://\(server)/v2/",
            ])
            if ping.stdout == "401" { return }
            usleep(100_000)
        }
        shutdown()
        throw FixtureError("the test registry at \(server) did not answer within 30s")
    }

    /// Pushes a local test image (on the engine at `socket`) as `name` (`server/name`).
    public func push(_ image: String, as name: String, socket: String = "/var/run/docker.sock") throws -> String {
        let target = "\(server)/\(name)"
        let config = root + "/client"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        for arguments in [
            ["docker", "-H", "unix://" + socket, "tag", image, target],
            [
                "docker", "--config", config, "-H", "unix://" + socket, "login", "-u", username, "--password-stdin",
                server,
            ],
            ["docker", "--config", config, "-H", "unix://" + socket, "push", target],
            ["docker", "-H", "unix://" + socket, "rmi", target],
        ] {
            let result =
                arguments.contains("--password-stdin")
                ? try Command.run(
                    ["sh", "-c", "printf %s \"$P\" | \"$@\"", "sh"] + arguments, environment: ["P": password])
                : try Command.run(arguments)
            guard result.status == 0 else {
                throw FixtureError("\(arguments.joined(separator: " ")): \(result.stderr)")
            }
        }
        return target
    }

    public func shutdown() {
        let first = lock.withLock { () -> Bool in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        _ = try? Command.run(["rm", "-rf", root, trustFolder])
    }

    /// Registries whose test process died: stopped, their folder and trust file removed.
    static func removeStale() {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for folder in folders where folder.hasPrefix("rcreg-") {
            let root = "/tmp/" + folder
            func number(_ file: String) -> Int32? {
                let text = (try? String(contentsOfFile: root + "/" + file, encoding: .utf8)) ?? ""
                return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            guard let owner = number("owner"), kill(owner, 0) != 0 else { continue }
            if let pid = number("pid") { kill(pid, SIGKILL) }
            if let server = try? String(contentsOfFile: root + "/server", encoding: .utf8), !server.isEmpty {
                _ = try? Command.run(["rm", "-rf", "/etc/docker/certs.d/" + server])
            }
            _ = try? Command.run(["rm", "-rf", root])
        }
    }

    /// `shutdown()` on a thread of its own.
    public func shutdownOffPool() async {
        await Blocking.run { self.shutdown() }
    }

    deinit { shutdown() }
}
