import Foundation
import ReconcileDrivers

/// What unauthenticated clients can make the controller hold, measured on the controller binary
/// next to this one: its resident memory (sampled every 250 ms) and `/healthz` (asked every 250 ms
/// from 127.0.0.1, each answer within 2 s) while, one after another,
///   1. 2,000 slowloris connections from 127.0.0.2 send half a request head and a byte every 2 s,
///   2. 60 clients post unsigned 10 MB bodies to `/hooks/git` at once,
///   3. 1,000 connections from 127.0.0.3 to a published port with no ready replica each send 1 MiB.
/// Each phase is compared with the idle controller measured just before it, in the same run.
func runBoundsBenchmark(_ options: Options) async throws {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let reconcile = here.appendingPathComponent("reconcile").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("bounds-\(UUID().uuidString)").path
    let repository = root + "/repo"
    try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let published = 20000 + Int.random(in: 0..<20000)
    // An App whose replica never becomes ready (its probe port never listens): the router has
    // no replica for the published port.
    let manifests = """
        kind: Node
        name: bench
        process: {}
        capacity: { cpu: 4, memory: 4Gi }
        ---
        kind: App
        name: never-ready
        command: ["/bin/sleep", "1000000"]
        resources: { cpu: 100m, memory: 16Mi }
        ports:
          - { name: http, container: 8080, publish: \(published) }
        health:
          tcp: { port: http }
          interval: 1s

        """
    try manifests.write(toFile: repository + "/all.yaml", atomically: true, encoding: .utf8)
    for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]] {
        try git(arguments, in: repository)
    }
    let secret = "bench-\(UUID().uuidString)"
    let controller = Process()
    controller.executableURL = URL(fileURLWithPath: reconcile)
    controller.arguments = [
        "controller", "--repo", repository, "--state", root + "/state", "--listen", "127.0.0.1:0", "--tick", "1s",
        "--webhook-secret", "env:RECONCILE_BENCH_WEBHOOK",
    ]
    var environment = ProcessInfo.processInfo.environment
    environment["RECONCILE_BENCH_WEBHOOK"] = secret
    controller.environment = environment
    let logPath = root + "/controller.log"
    _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    controller.standardOutput = FileHandle(forWritingAtPath: logPath)
    controller.standardError = controller.standardOutput
    try controller.run()
    defer {
        controller.terminate()
        controller.waitUntilExit()
    }
    let pid = controller.processIdentifier
    var port = 0
    for _ in 0..<600 where port == 0 {
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        if let line = log.split(separator: "\n").first(where: { $0.contains("api: listening on") }),
            let value = line.split(separator: ":").last.flatMap({ Int($0) })
        {
            port = value
        } else {
            try await Task.sleep(for: .milliseconds(100))
        }
    }
    guard port > 0 else { throw BenchError("the controller did not start: see \(logPath)") }
    let api = port
    // Wait until the router listens on the published port (the App is placed, not ready).
    for _ in 0..<600 {
        let fd = Sockets.connect("127.0.0.1", published, from: nil)
        if fd >= 0 {
            close(fd)
            break
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    print("bounds: controller pid \(pid), API port \(port), published port \(published) (no ready replica)")
    print("  phase                                       idle MiB  peak MiB  growth  healthz ok/asked  slowest")

    func rss() -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let kib =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first
            .flatMap { Double($0) } ?? 0
        return kib / 1024
    }

    /// Runs `attack` while sampling memory and /healthz; prints the phase's line.
    func phase(_ name: String, seconds: Double, _ attack: @escaping @Sendable () -> Void) async {
        try? await Task.sleep(for: .seconds(3))
        let idle = rss()
        let attacker = Thread { attack() }
        attacker.start()
        var peak = idle
        var asked = 0
        var answered = 0
        var slowest = 0.0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            peak = max(peak, rss())
            let began = Date()
            asked += 1
            if Sockets.get("127.0.0.1", port, "/healthz", timeout: 2).hasPrefix("HTTP/1.1 200") { answered += 1 }
            slowest = max(slowest, Date().timeIntervalSince(began))
            try? await Task.sleep(for: .milliseconds(250))
        }
        print(
            String(
                format: "  %@ %8.1f  %8.1f  %+6.1f  %7d/%-8d  %5.0f ms",
                name.padding(toLength: 42, withPad: " ", startingAt: 0), idle, peak, peak - idle, answered, asked,
                slowest * 1000))
        fflush(nil)
    }

    // 1. Slowloris: half a head, a byte every 2 s, for 40 s.
    await phase("2,000 slowloris connections (40 s)", seconds: 40) {
        var sockets: [Int32] = []
        for _ in 0..<2000 {
            let fd = Sockets.connect("127.0.0.1", api, from: "127.0.0.2")
            if fd >= 0 {
                _ = Sockets.send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
                sockets.append(fd)
            }
        }
        for _ in 0..<18 {
            sleep(2)
            for fd in sockets { _ = Sockets.send(fd, "X") }
        }
        for fd in sockets { close(fd) }
    }
    // 2. 60 unsigned 10 MB webhook posts at once.
    await phase("60 unsigned 10 MB webhook posts", seconds: 20) {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20)
        DispatchQueue.concurrentPerform(iterations: 60) { _ in
            let fd = Sockets.connect("127.0.0.1", api, from: nil)
            guard fd >= 0 else { return }
            _ = Sockets.send(fd, "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n")
            var offset = 0
            while offset < body.count {
                let sent = body[offset...].withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if sent <= 0 { break }
                offset += sent
            }
            close(fd)
        }
    }
    // 3. 1,000 connections waiting on the published port, 1 MiB each.
    await phase("1,000 waiting on a port, 1 MiB each (40 s)", seconds: 40) {
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 64 << 10)
        var sockets: [Int32] = []
        for _ in 0..<1000 {
            let fd = Sockets.connect("127.0.0.1", published, from: "127.0.0.3")
            guard fd >= 0 else { continue }
            var flags = fcntl(fd, F_GETFL)
            flags |= O_NONBLOCK
            _ = fcntl(fd, F_SETFL, flags)
            sockets.append(fd)
        }
        // Up to 1 MiB each, as far as the kernel and the router take it.
        for _ in 0..<16 {
            for fd in sockets {
                _ = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
        sleep(30)
        for fd in sockets { close(fd) }
    }
    print("  (debug or release as built; RSS of the controller process)")
    // The App's process outlives the controller by design: remove it.
    let driver = try ProcessDriver(
        node: "bench", stateDirectory: root + "/state", shimPath: here.appendingPathComponent("reconcile-shim").path)
    controller.terminate()
    controller.waitUntilExit()
    for container in try await driver.list() { try await driver.remove(container.id) }
}

/// Plain blocking sockets: requests an HTTP client would not send.
enum Sockets {
    static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return address
    }

    /// A connected socket (from the source address `from`, on loopback), or -1.
    static func connect(_ host: String, _ port: Int, from source: String?) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        if let source {
            var local = address(source, 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                return -1
            }
        }
        var remote = address(host, port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) -> Int {
        text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// A GET's status line, or "" (refused, closed or slower than `timeout` seconds).
    static func get(_ host: String, _ port: Int, _ path: String, timeout: Int32) -> String {
        let fd = connect(host, port, from: nil)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        _ = send(fd, "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, timeout * 1000) > 0 else { return "" }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(fd, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }
}
