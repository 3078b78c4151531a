import Foundation
import ReconcileTesting
import Testing

/// Real repositories built with the `git` CLI in a temporary folder, and servers that serve them.
final class GitFixture {
    let root: URL

    init(_ name: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "reconcile-git-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var state: String { root.appendingPathComponent("state").path }

    /// Runs a command (argv, no shell) with a fixed git identity; returns its trimmed standard output and
    /// throws on a non-zero exit.
    @discardableResult
    static func run(
        _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
    ) throws -> String {
        let identity = [
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": FileManager.default.temporaryDirectory.path,
        ]
        let result = try Command.run(arguments, in: directory, environment: identity.merging(environment) { $1 })
        guard result.status == 0 else {
            throw FixtureError("\(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A new work repository (branch `main`) named `name` under the fixture root.
    func repository(_ name: String = "origin") throws -> WorkRepository {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Self.run(["git", "init", "-q", "-b", "main"], in: url)
        return WorkRepository(url: url)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct WorkRepository {
    let url: URL
    var path: String { url.path }

    func write(_ relative: String, _ text: String) throws {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(at: url.appendingPathComponent(relative))
    }

    /// Stages everything and commits; returns the new commit id.
    @discardableResult
    func commit(_ message: String, environment: [String: String] = [:], extra: [String] = []) throws -> String {
        try GitFixture.run(["git", "add", "-A"], in: url)
        try GitFixture.run(
            ["git", "commit", "-q", "--allow-empty", "-m", message] + extra, in: url, environment: environment)
        return try git("rev-parse", "HEAD")
    }

    @discardableResult
    func git(_ arguments: String...) throws -> String {
        try GitFixture.run(["git"] + arguments, in: url)
    }
}

/// `git daemon` serving a folder on 127.0.0.1; stopped (with its connection children) on deinit.
final class GitDaemon {
    let process = Process()
    let port: Int
    let basePath: URL

    init(basePath: URL, port: Int? = nil) throws {
        self.port = try port ?? Loopback.freePort()
        self.basePath = basePath
        // Run git-daemon itself, not the `git` wrapper, so the signal reaches the server.
        let execPath = try GitFixture.run(["git", "--exec-path"])
        process.executableURL = URL(fileURLWithPath: execPath + "/git-daemon")
        process.arguments = [
            "--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port=\(self.port)",
            "--base-path=\(basePath.path)", basePath.path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard Loopback.blockingWaitForListener(port: self.port) else {
            throw FixtureError("git daemon did not start on port \(self.port)")
        }
    }

    func url(_ repository: String) -> String { "git://127.0.0.1:\(port)/\(repository)" }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// `git http-backend` behind a loopback HTTP server that requires basic auth (Tests/oracles).
final class GitHTTPServer {
    let process = Process()
    let port: Int

    init(projectRoot: URL, user: String, password: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("oracles/git_http_server.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, projectRoot.path, user, password]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([0x0A]) {
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            throw FixtureError("git HTTP server did not start")
        }
        self.port = port
    }

    func url(_ repository: String) -> String { "http://127.0.0.1:\(port)/\(repository)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// An OpenSSH server on 127.0.0.1 that accepts one client key (for root), with its own host key and
/// a known_hosts file listing it; stopped on deinit. Needs Debian's openssh-server and root.
final class SSHServer {
    let process = Process()
    let port: Int
    let clientKey: String
    let knownHosts: String
    let user = NSUserName()

    init(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // sshd refuses to start without its privilege-separation folder.
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let hostKey = folder.appendingPathComponent("host_key").path
        clientKey = folder.appendingPathComponent("client_key").path
        for key in [hostKey, clientKey] {
            try GitFixture.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key])
        }
        let authorized = folder.appendingPathComponent("authorized_keys").path
        try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: authorized)
        port = try Loopback.freePort()
        let hostPublic = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ")
        knownHosts = folder.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:\(port) \(hostPublic[0]) \(hostPublic[1])\n".write(
            toFile: knownHosts, atomically: true, encoding: .utf8)
        let config = folder.appendingPathComponent("sshd_config").path
        try """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(hostKey)
        AuthorizedKeysFile \(authorized)
        PidFile \(folder.appendingPathComponent("sshd.pid").path)
        StrictModes no
        UsePAM no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password

        """.write(toFile: config, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/sshd")
        process.arguments = ["-D", "-e", "-f", config]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard Loopback.blockingWaitForListener(port: port) else {
            throw FixtureError("sshd did not start on port \(port)")
        }
    }

    func url(_ path: String) -> String { "ssh://\(user)@127.0.0.1:\(port)\(path)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
