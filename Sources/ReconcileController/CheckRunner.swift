import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner

/// Runs one check once: a log pattern over the App's replicas' recent output, an HTTP GET, a TCP
/// connect, or a Nagios-style command (exit 0 ok, 1 warning, 2 critical, 3 unknown) on this host,
/// killed with its process group at the timeout.
public struct CheckRunner: Sendable {
    let nodes: [NodeSpec]
    let drivers: [String: any ContainerDriver]

    public init(nodes: [NodeSpec], drivers: [String: any ContainerDriver]) {
        self.nodes = nodes
        self.drivers = drivers
    }

    public struct Result: Sendable, Hashable {
        public var passed: Bool
        public var message: String
        /// For a log check: the newest matching line's time, when one was seen.
        public var lastMatch: Date?

        public init(passed: Bool, message: String, lastMatch: Date? = nil) {
            self.passed = passed
            self.message = message
            self.lastMatch = lastMatch
        }
    }

    public func run(_ check: CheckSpec, previousMatch: Date?, now: Date) async -> Result {
        switch check.probe {
        case .logs(let pattern, let mode, let within):
            return await logs(
                check, pattern: pattern, mode: mode, within: within, previousMatch: previousMatch, now: now)
        case .http(let url, let expect, let bodyMatch):
            return await http(url, expect: expect, bodyMatch: bodyMatch, timeout: check.timeout)
        case .tcp(let host, let port):
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(check.timeout.milliseconds))
                    .connect(host: host, port: port).get()
                try? await channel.close()
                return Result(passed: true, message: "\(host):\(port) accepts connections")
            } catch {
                return Result(passed: false, message: "cannot connect to \(host):\(port): \(error)")
            }
        case .command(let argv):
            let (code, output) = await HostCommand.run(argv, timeout: check.timeout)
            let state =
                switch code {
                case 0: "OK"
                case 1: "WARNING"
                case 2: "CRITICAL"
                case nil: "CRITICAL (timed out after \(check.timeout); killed)"
                default: "UNKNOWN (exit \(code!))"
                }
            let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
            return Result(passed: code == 0, message: "\(state)\(text.isEmpty ? "" : ": " + text)")
        }
    }

    private func http(_ url: String, expect: Int, bodyMatch: String?, timeout: Timespan) async -> Result {
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(timeout.milliseconds))
            let body = try await response.body.collect(upTo: 1 << 20)
            let code = Int(response.status.code)
            guard code == expect else {
                return Result(passed: false, message: "GET \(url) answered \(code), expected \(expect)")
            }
            if let bodyMatch {
                guard let pattern = try? LogPattern(bodyMatch), pattern.matches(String(buffer: body)) else {
                    return Result(
                        passed: false, message: "GET \(url) answered \(code) without /\(bodyMatch)/ in its body")
                }
            }
            return Result(passed: true, message: "GET \(url) answered \(code)")
        } catch {
            return Result(passed: false, message: "GET \(url) failed: \(error)")
        }
    }

    /// The App's replicas' output over the window: `match` passes when a line matches, `absent` fails
    /// when one does. Says whether there was no output at all, and when the pattern last matched.
    private func logs(
        _ check: CheckSpec, pattern text: String, mode: CheckSpec.LogMode, within: Timespan, previousMatch: Date?,
        now: Date
    ) async -> Result {
        guard let app = check.app else { return Result(passed: false, message: "a log check needs an app") }
        guard let pattern = try? LogPattern(text) else {
            return Result(passed: false, message: "the pattern /\(text)/ does not compile")
        }
        let since = now.addingTimeInterval(-within.seconds)
        var lines = 0
        var replicas = 0
        var unreadable: [String] = []
        var newest: Date?
        var sample: String?
        let matcher = pattern.matcher()
        for node in nodes {
            guard let driver = drivers[node.name], let listed = try? await driver.list() else { continue }
            for container in listed where container.labels[OwnershipLabels.app] == app {
                replicas += 1
                guard let output = try? await driver.logs(container.id, since: since) else {
                    unreadable.append(container.name)
                    continue
                }
                for line in output where line.time >= since {
                    lines += 1
                    if matcher.matches(line.text), newest.map({ line.time > $0 }) ?? true {
                        newest = line.time
                        sample = line.text
                    }
                }
            }
        }
        let lastMatch = newest ?? previousMatch
        let last = lastMatch.map { "last match \(ISO8601DateFormatter().string(from: $0))" } ?? "never matched"
        let window = "in the last \(within)"
        switch mode {
        case .match:
            if newest != nil {
                return Result(passed: true, message: "/\(text)/ matched \(window): \(sample!)", lastMatch: lastMatch)
            }
            if replicas == 0 {
                return Result(
                    passed: false, message: "no logs at all: app \(app) has no replica running", lastMatch: lastMatch)
            }
            if lines == 0 {
                return Result(
                    passed: false, message: "no logs at all \(window) from app \(app) (\(last))", lastMatch: lastMatch)
            }
            return Result(
                passed: false, message: "no line matched /\(text)/ \(window) (\(lines) lines from app \(app); \(last))",
                lastMatch: lastMatch)
        case .absent:
            if let newest {
                return Result(
                    passed: false,
                    message:
                        "/\(text)/ appeared \(window) at \(ISO8601DateFormatter().string(from: newest)): \(sample!)",
                    lastMatch: lastMatch)
            }
            return Result(passed: true, message: "/\(text)/ absent \(window) (\(lines) lines)", lastMatch: lastMatch)
        }
    }
}

/// A command on the controller's host in its own process group, output (first 4 KiB) kept, the
/// whole group killed at the timeout.
enum HostCommand {
    /// The exit code (nil when it timed out or could not start) and the output.
    static func run(_ argv: [String], timeout: Timespan) async -> (Int?, String) {
        guard !argv.isEmpty else { return (nil, "empty command") }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)").path
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in arguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, environ)
        guard spawned == 0 else { return (nil, "cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        var status: Int32 = 0
        var code: Int?
        while true {
            if waitpid(pid, &status, WNOHANG) == pid {
                code = (status & 0x7f) == 0 ? Int((status >> 8) & 0xff) : 128 + Int(status & 0x7f)
                break
            }
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        let data = FileManager.default.contents(atPath: output) ?? Data()
        return (code, String(decoding: data.prefix(4096), as: UTF8.self))
    }
}
