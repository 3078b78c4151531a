import Foundation
import NIOPosix
import ReconcileModel
import ReconcileRouter
import ReconcileTesting

/// `wrk` against one small keep-alive HTTP server (a child process: `reconcile-bench backend`) four
/// ways, in rounds so each sees the same machine: directly; through the router in http mode;
/// through Debian's nginx as a reverse proxy with upstream keep-alive (the same worker count as the
/// router's event loops, and the same headers added: X-Forwarded-For, -Proto, -Host and a request
/// id); through the router in tcp mode.
func runRouterBenchmark(_ options: Options) async throws {
    for tool in ["/usr/bin/wrk", "/usr/sbin/nginx"] where !FileManager.default.isExecutableFile(atPath: tool) {
        throw FixtureError("the router benchmark needs \(tool): apt-get install wrk nginx")
    }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("router-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }

    let backendPort = try Loopback.freePort()
    let backend = Process()
    backend.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    backend.arguments = ["backend", "--files", String(backendPort)]
    try backend.run()
    defer { backend.terminate() }
    guard await Loopback.waitForListener(port: backendPort) else { throw FixtureError("the backend did not start") }
    let target = Backend(id: "backend", host: "127.0.0.1", port: backendPort)

    // ROUTER_THREADS=N runs the router on N event loops of its own (default: NIO's shared group).
    let threads = ProcessInfo.processInfo.environment["ROUTER_THREADS"].flatMap { Int($0) }
    let router = threads.map { Router(group: MultiThreadedEventLoopGroup(numberOfThreads: $0)) } ?? Router()
    let httpPort = try Loopback.freePort()
    let tcpPort = try Loopback.freePort()
    let errors = await router.update(ports: [
        httpPort: PublishedPort(mode: .http, routes: [Route(app: "bench", port: "http", backends: [target])]),
        tcpPort: .tcp([target], app: "bench"),
    ])
    guard errors.isEmpty else { throw FixtureError("router: \(errors)") }

    let nginxPort = try Loopback.freePort()
    let configuration = """
        worker_processes \(cores);
        pid \(folder)/nginx.pid;
        error_log \(folder)/error.log warn;
        events { worker_connections 4096; }
        http {
            access_log off;
            client_body_temp_path \(folder)/body;
            proxy_temp_path \(folder)/proxy;
            upstream backend { server 127.0.0.1:\(backendPort); keepalive 256; }
            # The request id the client sent, else a new one (as the router does).
            map $http_x_request_id $reqid { default $http_x_request_id; "" $request_id; }
            server {
                listen 127.0.0.1:\(nginxPort);
                location / {
                    proxy_pass http://backend;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    # The headers the router sends the replica, so both ask the backend the same.
                    proxy_set_header Host $http_host;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_set_header X-Forwarded-Proto $scheme;
                    proxy_set_header X-Forwarded-Host $http_host;
                    proxy_set_header X-Request-Id $reqid;
                }
            }
        }

        """
    try configuration.write(toFile: folder + "/nginx.conf", atomically: true, encoding: .utf8)
    let nginx = Process()
    nginx.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
    nginx.arguments = ["-c", folder + "/nginx.conf", "-g", "daemon off;"]
    try nginx.run()
    defer { nginx.terminate() }
    guard await Loopback.waitForListener(port: nginxPort) else { throw FixtureError("nginx did not start") }

    let connections = 64
    let duration = 8
    let targets: [(String, Int)] = [
        ("direct", backendPort), ("router http", httpPort), ("nginx", nginxPort), ("router tcp", tcpPort),
    ]
    var results: [String: [WrkResult]] = [:]
    // CPU each request costs the proxy and the backend (µs): the machine is shared by wrk, the
    // proxy and the backend, so requests/s follows how much CPU each proxy spends per request.
    let workers = childProcesses(of: nginx.processIdentifier)
    let me = ProcessInfo.processInfo.processIdentifier
    func proxyCPU(_ name: String) -> Double {
        switch name {
        case "nginx": workers.compactMap(processCPUSeconds).reduce(0, +)
        case "direct": 0
        default: processCPUSeconds(me) ?? 0
        }
    }
    var cpu: [String: [(proxy: Double, backend: Double)]] = [:]
    // ROUTER_BENCH_ONLY="router http" runs one target (to profile it alone).
    let only = ProcessInfo.processInfo.environment["ROUTER_BENCH_ONLY"]
    for round in 1...options.runs {
        // The router and nginx run next to each other, in turn first (the machine drifts).
        let order = round % 2 == 1 ? targets : [targets[0], targets[2], targets[1], targets[3]]
        for (name, port) in order where only == nil || only == name {
            let before = (proxy: proxyCPU(name), backend: processCPUSeconds(backend.processIdentifier) ?? 0)
            let result = try wrk(port: port, connections: connections, seconds: duration, threads: cores)
            let served = result.requests * Double(duration)
            let perRequest = (
                proxy: (proxyCPU(name) - before.proxy) / served * 1e6,
                backend: ((processCPUSeconds(backend.processIdentifier) ?? 0) - before.backend) / served * 1e6
            )
            results[name, default: []].append(result)
            cpu[name, default: []].append(perRequest)
            print(
                "round \(round) \(name): \(String(format: "%.0f", result.requests)) req/s, p50 \(ms(result.p50)), "
                    + "p99 \(ms(result.p99)), errors \(result.errors), CPU per request: proxy "
                    + String(format: "%.1f µs, backend %.1f µs", perRequest.proxy, perRequest.backend))
        }
    }
    await router.shutdown()
    guard only == nil else { return }
    func summary(_ name: String) -> (Double, Double, Double) {
        let runs = results[name] ?? []
        return (median(runs.map(\.requests)), median(runs.map(\.p50)), median(runs.map(\.p99)))
    }
    func cpuSummary(_ name: String) -> (proxy: Double, backend: Double) {
        let runs = cpu[name] ?? []
        return (median(runs.map(\.proxy)), median(runs.map(\.backend)))
    }
    let direct = summary("direct")
    let http = summary("router http")
    let proxy = summary("nginx")
    let tcp = summary("router tcp")
    print(
        "\nwrk -t\(cores) -c\(connections) -d\(duration)s, keep-alive, GET / (1-byte body); \(options.runs) rounds, "
            + "medians; \(cores) cores")
    for (name, value) in [("direct", direct), ("router http", http), ("nginx", proxy), ("router tcp", tcp)] {
        print(
            "\(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(format: "%8.0f", value.0)) req/s  "
                + "p50 \(ms(value.1))  p99 \(ms(value.2))  CPU/request: "
                + String(format: "proxy %.1f µs, backend %.1f µs", cpuSummary(name).proxy, cpuSummary(name).backend))
    }
    print(String(format: "router http / nginx: %.2fx requests/s", http.0 / proxy.0))
    // Each round's pair measured minutes apart at most: the ratio least moved by the shared machine.
    let paired = zip(results["router http"] ?? [], results["nginx"] ?? []).map { $0.requests / $1.requests }
    print(
        "router http / nginx, round by round: "
            + paired.map { String(format: "%.2fx", $0) }.joined(separator: " ")
            + String(format: " (median %.2fx)", median(paired)))
    print("added p99 over direct: router http \(ms(http.2 - direct.2)), nginx \(ms(proxy.2 - direct.2))")
    print(String(format: "router tcp / direct: %.2fx requests/s", tcp.0 / direct.0))
    print(
        String(
            format:
                "CPU per request: router http %.2fx nginx's; a bare NIO HTTP server (the backend) %.2fx nginx's proxy",
            cpuSummary("router http").proxy / cpuSummary("nginx").proxy,
            cpuSummary("direct").backend / cpuSummary("nginx").proxy))
}

struct WrkResult {
    var requests: Double
    var p50: Double
    var p99: Double
    var errors: Int
}

private func ms(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1000) }

/// One `wrk --latency` run; latencies in seconds.
func wrk(port: Int, connections: Int, seconds: Int, threads: Int) throws -> WrkResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
    process.arguments = [
        "-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "http://127.0.0.1:\(port)/",
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    func latency(_ label: String) -> Double {
        guard
            let line = output.split(separator: "\n").first(where: {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix(label)
            })
        else { return .nan }
        let value = line.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init) ?? ""
        for (unit, scale) in [("us", 1e-6), ("ms", 1e-3), ("s", 1.0)] where value.hasSuffix(unit) {
            return (Double(value.dropLast(unit.count)) ?? .nan) * scale
        }
        return .nan
    }
    let requests =
        output.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") }
        .flatMap { Double($0.split(separator: " ", omittingEmptySubsequences: true).last ?? "") } ?? .nan
    let errors =
        output.split(separator: "\n").first { $0.contains("Non-2xx") || $0.contains("Socket errors") }
        .map { _ in 1 } ?? 0
    return WrkResult(requests: requests, p50: latency("50%"), p99: latency("99%"), errors: errors)
}

/// `reconcile-bench backend --files PORT`: the keep-alive test server alone, until killed.
func runBackend(_ options: Options) async throws {
    let server = try await HTTPTestBackend.start("b", port: options.files)
    print("backend on 127.0.0.1:\(server.port)")
    while true { try await Task.sleep(for: .seconds(3600)) }
}
