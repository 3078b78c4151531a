import Foundation
import ReconcileDrivers

/// The test image: a root file system with Debian's static busybox, imported into an engine.
public enum TestImage {
    public static let name = "reconcile-test/busybox:1"
    /// The same root file system under a second tag, for image changes.
    public static let second = "reconcile-test/busybox:2"

    /// A tar of `/bin/busybox` plus the applet links the tests use, built once per test run.
    static let tarball: Result<String, FixtureError> = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reconcile-rootfs-\(getpid())")
        let bin = root.appendingPathComponent("bin")
        do {
            try? FileManager.default.removeItem(at: root)
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            guard FileManager.default.fileExists(atPath: "/bin/busybox") else {
                return .failure(
                    FixtureError("/bin/busybox is missing: install Debian's busybox-static (scripts/setup does)"))
            }
            try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: bin.appendingPathComponent("busybox").path)
            for applet in ["sh", "sleep", "httpd", "nc", "echo", "cat", "head", "tr", "true", "false", "ls"] {
                try FileManager.default.createSymbolicLink(
                    atPath: bin.appendingPathComponent(applet).path, withDestinationPath: "busybox")
            }
            let tar = root.path + ".tar"
            let result = try Command.run(["tar", "-C", root.path, "-cf", tar, "."])
            guard result.status == 0 else { return .failure(FixtureError("tar failed: \(result.stderr)")) }
            return .success(tar)
        } catch {
            return .failure(FixtureError("cannot build the busybox root file system: \(error)"))
        }
    }()

    /// Imports both tags into the engine at `socket` unless they are there.
    public static func ensure(on socket: String) throws {
        for tag in [name, second] {
            let present = try Command.run(["docker", "-H", "unix://\(socket)", "image", "inspect", tag])
            if present.status == 0 { continue }
            let tar = try tarball.get()
            let result = try Command.run([
                "docker", "-H", "unix://\(socket)", "import", "--change", #"CMD ["/bin/sh"]"#, tar, tag,
            ])
            guard result.status == 0 else { throw FixtureError("docker import failed: \(result.stderr)") }
        }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An extra `dockerd` acting as another node: its own socket, data root, exec root, pid file and
/// Linux bridge (so published ports work), started by a test and stopped by it.
public final class DockerEngine: @unchecked Sendable {
    public let root: String
    public let bridge: String
    let subnet: String
    var process: Process?

    /// A loopback address of its own for published ports: engines on one host each allocate host ports
    /// from the same range and would otherwise collide.
    public let publishAddress: String
    public var socket: String { root + "/docker.sock" }
    public var endpoint: String { "unix://" + socket }

    private let shutDown = NSLock()
    private var isShutDown = false

    /// Extra listeners, e.g. a TLS-protected TCP socket.
    let extraArguments: [String]

    /// Starts a daemon on a thread of its own (starting one takes seconds of polling; see `Blocking`).
    public static func start(extraArguments: [String] = []) async throws -> DockerEngine {
        try await Blocking.run { try DockerEngine(extraArguments: extraArguments) }
    }

    public init(extraArguments: [String] = []) throws {
        self.extraArguments = extraArguments
        Self.removeStaleEngines()
        let tag = String(UUID().uuidString.prefix(6)).lowercased()
        // Short paths: containerd's socket path under the exec root has a length limit.
        root = "/tmp/rcd-" + tag
        bridge = "rcbr" + tag
        subnet = "10.251.\(try Self.freeSubnet()).1/24"
        publishAddress = "127.0.\(Int.random(in: 2...250)).\(Int.random(in: 2...250))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for arguments in [
            ["ip", "link", "add", bridge, "address", Self.bridgeAddress(), "type", "bridge"],
            ["ip", "addr", "add", subnet, "dev", bridge],
            ["ip", "link", "set", bridge, "up"],
        ] {
            let result = try Command.run(arguments)
            guard result.status == 0 else {
                throw FixtureError("\(arguments.joined(separator: " ")): \(result.stderr)")
            }
        }
        try start()
        try TestImage.ensure(on: socket)
    }

    /// Starts (or restarts) the daemon on the same socket and data root.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "dockerd", "--iptables=false", "--ip-masq=false", "--bridge", bridge, "--data-root", root + "/data",
                "--exec-root", root + "/x", "--pidfile", root + "/docker.pid", "--host", endpoint,
            ] + extraArguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let result = try? Command.run(["docker", "-H", endpoint, "version", "--format", "{{.Server.Version}}"]),
                result.status == 0
            {
                return
            }
            usleep(200_000)
        }
        throw FixtureError("dockerd at \(socket) did not come up within 60s")
    }

    /// Stops the daemon (its containers stop with it).
    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// Stops the daemon and removes its bridge and folder. Idempotent; also run on deinit.
    public func shutdown() {
        guard
            shutDown.withLock({ () -> Bool in
                defer { isShutDown = true }
                return !isShutDown
            })
        else { return }
        stop()
        _ = try? Command.run(["ip", "link", "del", bridge])
        _ = try? Command.run(["rm", "-rf", root])
    }

    /// `shutdown()` on a thread of its own: stopping a daemon takes seconds (it stops its
    /// containers first), which must not hold the cooperative pool (see `Blocking`). Tests call it
    /// at their end; their `defer { engine.shutdown() }` is then a no-op, kept for failed tests.
    public func shutdownOffPool() async {
        await Blocking.run { self.shutdown() }
    }

    deinit { shutdown() }

    // MARK: Host hygiene

    nonisolated(unsafe) private static var allocated: Set<Int> = []
    static let lock = NSLock()

    /// A fixed MAC address for a test bridge, as dockerd gives the bridges it creates. Without one
    /// the kernel gives a bridge the lowest MAC among its ports, so it changes whenever a container's
    /// veth comes or goes; the other containers keep the old one for the gateway in their ARP caches
    /// and what they send to the host is lost until the entry is renewed (a rolling update's requests
    /// stalled mid-answer that way).
    public static func bridgeAddress() -> String {
        "02:" + (0..<5).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined(separator: ":")
    }

    /// A third octet for 10.251.N.0/24 that no interface on the host uses and no engine of this
    /// process took: two bridges with one subnet would break each other's containers.
    static func freeSubnet() throws -> Int {
        // Interfaces, and routes (a namespace host's container subnet is routed from here).
        let addresses =
            ((try? Command.run(["ip", "-br", "addr"]))?.stdout ?? "")
            + ((try? Command.run(["ip", "route"]))?.stdout ?? "")
        return try lock.withLock {
            let candidates = (2...250).filter { !allocated.contains($0) && !addresses.contains("10.251.\($0).") }
            guard let chosen = candidates.randomElement() else {
                throw FixtureError("no free 10.251.N.0/24 subnet for another test dockerd")
            }
            allocated.insert(chosen)
            return chosen
        }
    }

    /// Engines left behind by a killed test run (their dockerd gone for over two minutes): their
    /// bridges and folders are removed.
    private static func removeStaleEngines() {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for folder in folders where folder.hasPrefix("rcd-") {
            let root = "/tmp/" + folder
            let attributes = try? FileManager.default.attributesOfItem(atPath: root)
            guard let modified = attributes?[.modificationDate] as? Date, Date().timeIntervalSince(modified) > 120
            else { continue }
            let pidText = (try? String(contentsOfFile: root + "/docker.pid", encoding: .utf8)) ?? ""
            if let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0 { continue }
            _ = try? Command.run(["ip", "link", "del", "rcbr" + folder.dropFirst("rcd-".count)])
            _ = try? Command.run(["rm", "-rf", root])
        }
    }
}
