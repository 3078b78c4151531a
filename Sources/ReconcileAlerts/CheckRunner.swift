import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileSpawn
import ReconcileStore

/// Runs one check once: a log pattern over the App's replicas' recent output, an HTTP GET, a TCP
/// connect, or a Nagios-style command (exit 0 ok, 1 warning, 2 critical, 3 unknown) on this host,
/// killed with its process group at the timeout.
public struct CheckRunner: Sendable {
    let nodes: [NodeSpec]
    let drivers: [String: any ContainerDriver]
    /// The controller's latest observation of every node's containers, and when it was taken: a
    /// log check reads it instead of listing the nodes again while it is recent.
    let listings: [String: [ContainerInfo]]?
    let listedAt: Date?
    /// Listings older than this are not used.
    static let listingAge: TimeInterval = 5
    /// Where a task's attempts are recorded, for checks over a task's output.
    let store: Store?

    public init(
        nodes: [NodeSpec], drivers: [String: any ContainerDriver], listings: [String: [ContainerInfo]]? = nil,
        listedAt: Date? = nil, store: Store? = nil
    ) {
        self.store = store
        self.nodes = nodes
        self.drivers = drivers
        self.listings = listings
        self.listedAt = listedAt
    }

    public struct Result: Sendable, Hashable {
        public var passed: Bool
        public var message: String
        /// For a log check: the newest matching line's time, when one was seen.
        public var lastMatch: Date?
        /// How bad a failure is when the probe says so (a Nagios command's WARNING).
        public var severity: Severity?

        public init(passed: Bool, message: String, lastMatch: Date? = nil, severity: Severity? = nil) {
            self.severity = severity
            self.passed = passed
            self.message = message
            self.lastMatch = lastMatch
        }
    }

    public func run(_ check: CheckSpec, previousMatch: Date?, now: Date) async -> Result {
        switch check.probe {
        case .logs(let pattern, let mode, let within):
            if let task = check.task {
                return taskOutput(task, pattern: pattern, mode: mode, within: within, previousMatch: previousMatch)
            }
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
            return Result(
                passed: code == 0, message: "\(state)\(text.isEmpty ? "" : ": " + text)",
                severity: code == 1 ? .warning : code == 0 ? nil : .critical)
        }
    }

    private func http(_ url: String, expect: Int, bodyMatch: String?, timeout: Timespan) async -> Result {
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            // A fresh connection each time, as check_http makes: a pooled one could pass while the
            // service no longer accepts connections.
            request.headers.add(name: "Connection", value: "close")
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
        var matching = MatchingLines()
        let matcher = pattern.matcher()
        let recent = listedAt.map { now.timeIntervalSince($0) < Self.listingAge } ?? false
        for node in nodes {
            guard let driver = drivers[node.name] else { continue }
            let listed: [ContainerInfo]
            if recent, let seen = listings?[node.name] {
                listed = seen
            } else if let fresh = try? await driver.list() {
                listed = fresh
            } else {
                continue
            }
            for container in listed where container.labels[OwnershipLabels.app] == app {
                let output: [LogLine]
                do {
                    output = try await driver.logs(container.id, since: since)
                } catch let error as DriverError where recent && error.kind == .notFound {
                    continue  // removed since the observation (a replaced replica): not one of the App's now
                } catch {
                    replicas += 1
                    unreadable.append(container.name)
                    continue
                }
                replicas += 1
                for line in output where line.time >= since {
                    lines += 1
                    guard matcher.matches(line.text) else { continue }
                    matching.add(line)
                    if newest.map({ line.time > $0 }) ?? true {
                        newest = line.time
                        sample = line.text
                    }
                }
            }
        }
        let lastMatch = newest ?? previousMatch
        let last = lastMatch.map { "last match \(ISO8601DateFormatter().string(from: $0))" } ?? "never matched"
        let window = "in the last \(within)"
        if case .count(let above, let below) = mode {
            // A count judges the lines there are: with no replica running there are none (too few
            // for `below`, never too many; crash loops and missing replicas have incidents of their own).
            return Self.judgeCount(
                matching, pattern: text, above: above, below: below, window: window,
                of: replicas == 0 ? "app \(app) (no replica running)" : "app \(app)", lastMatch: lastMatch)
        }
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
        case .count:
            return Result(passed: false, message: "unreachable")
        }
    }

    /// Lines that matched: how many, and the last few (for the notice).
    struct MatchingLines {
        var count = 0
        var last: [LogLine] = []
        static let quoted = 5

        mutating func add(_ line: LogLine) {
            count += 1
            last.append(line)
            if last.count > Self.quoted * 4 {
                last.sort { $0.time < $1.time }
                last.removeFirst(last.count - Self.quoted)
            }
        }

        var quote: String {
            last.sorted { $0.time < $1.time }.suffix(Self.quoted).map { "\n  \($0.text)" }.joined()
        }
    }

    /// A count check's verdict: more than `above` or fewer than `below` matching lines fail; the
    /// message quotes the last matching lines.
    static func judgeCount(
        _ matching: MatchingLines, pattern: String, above: Int?, below: Int?, window: String, of source: String,
        lastMatch: Date?
    ) -> Result {
        let counted =
            "\(matching.count) line\(matching.count == 1 ? "" : "s") matched /\(pattern)/ \(window) in \(source)"
        let quote = matching.count > 0 ? "; the last:\(matching.quote)" : ""
        if let above, matching.count > above {
            return Result(passed: false, message: "\(counted), more than \(above)\(quote)", lastMatch: lastMatch)
        }
        if let below, matching.count < below {
            return Result(passed: false, message: "\(counted), fewer than \(below)\(quote)", lastMatch: lastMatch)
        }
        return Result(passed: true, message: counted, lastMatch: lastMatch)
    }

    /// A logs check over a DAG task's output: its newest finished attempt (the latest run it ran in),
    /// judged as a whole, or over its last `within` when that is set.
    private func taskOutput(
        _ target: CheckSpec.TaskTarget, pattern text: String, mode: CheckSpec.LogMode, within: Timespan,
        previousMatch: Date?
    ) -> Result {
        guard let pattern = try? LogPattern(text) else {
            return Result(passed: false, message: "the pattern /\(text)/ does not compile")
        }
        guard let store else { return Result(passed: false, message: "task output is not available here") }
        let attempts = (try? store.attempts(dag: target.dag, task: target.task, limit: 20)) ?? []
        guard let attempt = attempts.first(where: { $0.state != .running && $0.state != .recorded }) else {
            // No run finished the task yet: nothing to judge, nothing wrong.
            return Result(passed: true, message: "task \(target) has not finished a run yet", lastMatch: previousMatch)
        }
        let source = "task \(target) of run \(attempt.runID) (try \(attempt.tryNumber))"
        let base = attempt.logPath.map { String($0.dropLast(".log".count)) }
        guard let base, let reader = SegmentReader(base) else {
            return Result(passed: false, message: "the output of \(source) was not saved", lastMatch: previousMatch)
        }
        let end = attempt.finishedAt ?? Date()
        let start = within.milliseconds > 0 ? end.addingTimeInterval(-within.seconds) : Date.distantPast
        var matching = MatchingLines()
        var lines = 0
        let matcher = pattern.matcher()
        for index in reader.firstLine(atOrAfter: start)..<reader.count {
            lines += 1
            let line = reader.line(index)
            guard matcher.matches(line.text) else { continue }
            matching.add(LogLine(time: line.time, stream: line.stderr ? .stderr : .stdout, text: line.text))
        }
        let newest = matching.last.map(\.time).max()
        let lastMatch = newest ?? previousMatch
        let window = within.milliseconds > 0 ? "in its last \(within)" : "in its output"
        switch mode {
        case .count(let above, let below):
            return Self.judgeCount(
                matching, pattern: text, above: above, below: below, window: window, of: source, lastMatch: lastMatch)
        case .match:
            return matching.count > 0
                ? Result(passed: true, message: "/\(text)/ matched \(window) of \(source)", lastMatch: lastMatch)
                : Result(
                    passed: false, message: "no line matched /\(text)/ \(window) of \(source) (\(lines) lines)",
                    lastMatch: lastMatch)
        case .absent:
            return matching.count == 0
                ? Result(passed: true, message: "/\(text)/ absent \(window) of \(source)", lastMatch: lastMatch)
                : Result(
                    passed: false, message: "/\(text)/ appeared \(window) of \(source):\(matching.quote)",
                    lastMatch: lastMatch)
        }
    }
}

/// A command on the controller's host (through `Spawn`: descriptors closed, only PATH and LANG of
/// the controller's environment, its own process group), output (first 4 KiB) kept, the whole group
/// killed at the timeout.
enum HostCommand {
    /// The exit code (nil when it timed out or could not start) and the output.
    static func run(_ argv: [String], timeout: Timespan) async -> (Int?, String) {
        guard !argv.isEmpty else { return (nil, "empty command") }
        do {
            let finished = try await Spawn.run(argv, environment: Spawn.environment(), timeout: timeout.seconds)
            return (finished.status.map(Int.init), finished.output)
        } catch {
            return (nil, error.description)
        }
    }
}
