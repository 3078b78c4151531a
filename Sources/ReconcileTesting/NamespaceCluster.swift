import Foundation
import ReconcileModel

/// Test hosts that are really apart: each a network namespace with its own address on a bridge
/// the test creates (10.251.K.0/24, the controller's side is .1), its own dockerd listening on TCP
/// with TLS client certificates, and its own container subnet (10.251.B.0/24), routed so that
/// containers on one host reach the others and the controller's address. Traffic stays on
/// loopback and on these addresses. Everything (daemons, namespaces, links, routes, folders) is
/// removed by `shutdown()`, which `deinit` also runs, so a failed test leaves nothing behind; a
/// killed run's leftovers are removed by the next run.
///
/// dockerd is started with `nsenter --net=…` (not `ip netns exec`, which remounts /sys and makes
/// dockerd fail with "Devices cgroup isn't mounted").
public final class NamespaceCluster: @unchecked Sendable {
    public struct Host: Sendable {
        public let name: String
        /// The namespace, under /var/run/netns.
        public let namespace: String
        /// The host's address on the cluster network.
        public let address: String
        /// Its containers' subnet (the engine's bridge), e.g. 10.251.40.0/24.
        public let containerSubnet: String
        let root: String
        let hostLink: String
        public var socket: String { root + "/docker.sock" }
        /// The engine's TCP endpoint (TLS with client certificates).
        public var endpoint: String { "tcp://\(address):2376" }
    }

    public let tag: String
    /// The controller's address on the cluster network (the bridge's own address).
    public let gateway: String
    public let bridge: String
    public private(set) var hosts: [Host] = []
    public let certificates: TestCertificates
    private var daemons: [String: Process] = [:]
    private var routes: [String] = []
    private let lock = NSLock()
    private var isShutDown = false

    /// Client TLS files for the engines, as a Node's `tls:` names them.
    public var tls: NodeSpec.TLSFiles {
        NodeSpec.TLSFiles(ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey)
    }

    /// Starts `count` hosts (each dockerd takes seconds; they start side by side) on a thread of its own.
    public static func start(hosts count: Int) async throws -> NamespaceCluster {
        try await Blocking.run { try NamespaceCluster(hosts: count) }
    }

    public init(hosts count: Int) throws {
        Self.removeStale()
        tag = String(UUID().uuidString.prefix(6)).lowercased()
        let network = try DockerEngine.freeSubnet()
        gateway = "10.251.\(network).1"
        bridge = "rcn\(tag)"
        let folder = "/tmp/rcn-\(tag)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "\(getpid())\n".write(toFile: folder + "/owner", atomically: true, encoding: .utf8)
        let addresses = (0..<count).map { "10.251.\(network).\($0 + 2)" }
        certificates = try TestCertificates(folder: folder + "/certs", addresses: addresses + [gateway, "127.0.0.1"])
        do {
            try run(["ip", "link", "add", bridge, "address", DockerEngine.bridgeAddress(), "type", "bridge"])
            try run(["ip", "addr", "add", gateway + "/24", "dev", bridge])
            try run(["ip", "link", "set", bridge, "up"])
            for index in 0..<count {
                let subnet = try DockerEngine.freeSubnet()
                let host = Host(
                    name: "host\(index + 1)", namespace: "rcn\(tag)h\(index + 1)", address: addresses[index],
                    containerSubnet: "10.251.\(subnet).0/24", root: "/tmp/rcn\(tag)\(index + 1)",
                    hostLink: "rcn\(tag)v\(index + 1)")
                try addHost(host, bip: "10.251.\(subnet).1/24")
                hosts.append(host)
            }
            // Each host reaches the others' containers directly; the controller's side through routes.
            for host in hosts {
                for other in hosts where other.name != host.name {
                    try inside(host, ["ip", "route", "add", other.containerSubnet, "via", other.address])
                }
                try run(["ip", "route", "add", host.containerSubnet, "via", host.address])
                routes.append(host.containerSubnet)
            }
            try startDaemons()
        } catch {
            shutdown()
            throw error
        }
    }

    private func addHost(_ host: Host, bip: String) throws {
        let peer = host.hostLink + "p"
        try FileManager.default.createDirectory(atPath: host.root, withIntermediateDirectories: true)
        try "\(bip)\n".write(toFile: host.root + "/bip", atomically: true, encoding: .utf8)
        try run(["ip", "netns", "add", host.namespace])
        try run(["ip", "link", "add", host.hostLink, "type", "veth", "peer", "name", peer])
        try run(["ip", "link", "set", host.hostLink, "master", bridge])
        try run(["ip", "link", "set", host.hostLink, "up"])
        try run(["ip", "link", "set", peer, "netns", host.namespace])
        try inside(host, ["ip", "link", "set", "lo", "up"])
        try inside(host, ["ip", "addr", "add", host.address + "/24", "dev", peer])
        try inside(host, ["ip", "link", "set", peer, "up"])
        try inside(host, ["ip", "route", "add", "default", "via", gateway])
        try inside(host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    }

    private func startDaemons() throws {
        for host in hosts {
            let bip = try String(contentsOfFile: host.root + "/bip", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = [
                "--net=/var/run/netns/\(host.namespace)", "dockerd", "--iptables=false", "--ip-masq=false",
                "--bip", bip, "--data-root", host.root + "/data", "--exec-root", host.root + "/x", "--pidfile",
                host.root + "/docker.pid", "--host", "unix://" + host.socket, "--host", host.endpoint, "--tlsverify",
                "--tlscacert", certificates.ca, "--tlscert", certificates.serverCert, "--tlskey",
                certificates.serverKey,
            ]
            let log = FileHandle(forWritingAtPath: "/dev/null")
            process.standardOutput = log
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            lock.withLock { daemons[host.name] = process }
        }
        let deadline = Date().addingTimeInterval(90)
        for host in hosts {
            var up = false
            while Date() < deadline {
                let version = try? Command.run([
                    "docker", "-H", "unix://" + host.socket, "version", "--format", "{{.Server.Version}}",
                ])
                if version?.status == 0 {
                    up = true
                    break
                }
                usleep(200_000)
            }
            guard up else { throw FixtureError("dockerd of \(host.name) did not come up within 90s") }
            try TestImage.ensure(on: host.socket)
        }
    }

    /// Runs argv inside the host's network namespace.
    @discardableResult
    public func inside(_ host: Host, _ arguments: [String]) throws -> Command.Output {
        try run(["nsenter", "--net=/var/run/netns/\(host.namespace)"] + arguments)
    }

    @discardableResult
    private func run(_ arguments: [String]) throws -> Command.Output {
        let result = try Command.run(arguments)
        guard result.status == 0 else {
            throw FixtureError("\(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return result
    }

    /// Stops one host's engine (its containers stop with it): the host stops answering.
    public func stopEngine(of host: Host) {
        guard let process = lock.withLock({ daemons.removeValue(forKey: host.name) }) else { return }
        Self.stop(process)
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Stops every daemon and removes the namespaces, links, routes and folders. Idempotent.
    public func shutdown() {
        let first = lock.withLock { () -> Bool in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        let all = lock.withLock { Array(daemons.values) }
        for process in all { Self.stop(process) }
        for host in hosts {
            _ = try? Command.run(["ip", "netns", "del", host.namespace])
            _ = try? Command.run(["ip", "link", "del", host.hostLink])
            _ = try? Command.run(["rm", "-rf", host.root])
        }
        for route in routes { _ = try? Command.run(["ip", "route", "del", route]) }
        _ = try? Command.run(["ip", "link", "del", bridge])
        _ = try? Command.run(["rm", "-rf", "/tmp/rcn-\(tag)"])
    }

    /// `shutdown()` on a thread of its own (it waits for daemons to stop).
    public func shutdownOffPool() async {
        await Blocking.run { self.shutdown() }
    }

    deinit { shutdown() }

    /// Clusters whose test process died (its pid, in the cluster's folder, is gone): their daemons
    /// are stopped, and their namespaces, links, routes and folders removed.
    static func removeStale() {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for folder in folders where folder.hasPrefix("rcn-") {
            let tag = String(folder.dropFirst("rcn-".count))
            let ownerText = (try? String(contentsOfFile: "/tmp/\(folder)/owner", encoding: .utf8)) ?? ""
            guard let owner = Int32(ownerText.trimmingCharacters(in: .whitespacesAndNewlines)), kill(owner, 0) != 0
            else { continue }
            for index in 1...16 {
                let root = "/tmp/rcn\(tag)\(index)"
                guard FileManager.default.fileExists(atPath: root) else { continue }
                let pidText = (try? String(contentsOfFile: root + "/docker.pid", encoding: .utf8)) ?? ""
                if let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, SIGTERM) == 0 {
                    let deadline = Date().addingTimeInterval(20)
                    while kill(pid, 0) == 0 && Date() < deadline { usleep(100_000) }
                    if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                }
                _ = try? Command.run(["ip", "netns", "del", "rcn\(tag)h\(index)"])
                _ = try? Command.run(["ip", "link", "del", "rcn\(tag)v\(index)"])
                _ = try? Command.run(["rm", "-rf", root])
            }
            _ = try? Command.run(["ip", "link", "del", "rcn\(tag)"])
            _ = try? Command.run(["rm", "-rf", "/tmp/\(folder)"])
        }
        TestRegistry.removeStale()
    }
}
