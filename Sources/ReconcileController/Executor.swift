import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets

/// Applies a plan through the node drivers: stops first (they free room and honour
/// maxUnavailable), then starts, each group with bounded concurrency. Every action is attempted;
/// failures are collected, not thrown, so one bad node does not stop the rest of the pass.
public struct Executor: Sendable {
    public struct Failure: Sendable, CustomStringConvertible {
        public var action: String
        public var error: String
        public var description: String { "\(action): \(error)" }
    }

    let drivers: [String: any ContainerDriver]
    let maxConcurrent: Int
    /// Runs before a container is stopped: the router drains it.
    let beforeStop: (@Sendable (StopContainer) async -> Void)?
    let beforeRemove: (@Sendable (String, String) async -> Void)?

    public init(
        drivers: [String: any ContainerDriver], maxConcurrent: Int = 8,
        beforeStop: (@Sendable (StopContainer) async -> Void)? = nil,
        beforeRemove: (@Sendable (String, String) async -> Void)? = nil
    ) {
        self.drivers = drivers
        self.maxConcurrent = maxConcurrent
        self.beforeStop = beforeStop
        self.beforeRemove = beforeRemove
    }

    public func apply(_ plan: Plan, desired: DesiredState, revision: String) async -> [Failure] {
        let apps = Dictionary(desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var failures: [Failure] = []
        let stops: [@Sendable () async -> Failure?] = plan.stops.map { stop in
            { [drivers, beforeStop, beforeRemove] in
                guard let driver = drivers[stop.node] else {
                    return Failure(action: "stop \(stop.containerID)", error: "unknown node \(stop.node)")
                }
                await beforeStop?(stop)
                do {
                    try await driver.stop(stop.containerID, grace: stop.grace)
                    await beforeRemove?(stop.node, stop.containerID)
                    try await driver.remove(stop.containerID)
                    return nil
                } catch {
                    return Failure(
                        action: "stop \(stop.app) \(stop.containerID.prefix(12)) on \(stop.node)", error: "\(error)")
                }
            }
        }
        failures += await run(stops)
        let starts: [@Sendable () async -> Failure?] = plan.starts.map { start in
            { [drivers] in
                guard let driver = drivers[start.node], let app = apps[start.app] else {
                    return Failure(
                        action: "start \(start.name)", error: "unknown node \(start.node) or app \(start.app)")
                }
                do {
                    // Pull a missing image first; the progress deadline counts from the container's start.
                    if let image = app.image, try await !driver.hasImage(image) {
                        try await driver.pull(image, auth: nil)
                    }
                    var env = app.env
                    for (key, reference) in app.secretEnv { env[key] = try SecretReader.read(reference) }
                    _ = try await driver.run(
                        ContainerSpec(
                            name: start.name, image: app.image, command: app.command, env: env,
                            resources: app.resources,
                            ports: app.ports.map(\.container),
                            labels: OwnershipLabels.labels(for: start, revision: revision)))
                    return nil
                } catch let error as DriverError where error.kind == .conflict {
                    return nil  // already started by an earlier, interrupted pass: adopt it
                } catch {
                    return Failure(action: "start \(start.name) on \(start.node)", error: "\(error)")
                }
            }
        }
        failures += await run(starts)
        return failures
    }

    /// Runs the jobs with at most `maxConcurrent` at a time.
    private func run(_ jobs: [@Sendable () async -> Failure?]) async -> [Failure] {
        await withTaskGroup(of: Failure?.self) { group in
            var failures: [Failure] = []
            var next = 0
            for _ in 0..<min(maxConcurrent, jobs.count) {
                let job = jobs[next]
                group.addTask { await job() }
                next += 1
            }
            while let result = await group.next() {
                if let result { failures.append(result) }
                if next < jobs.count {
                    let job = jobs[next]
                    group.addTask { await job() }
                    next += 1
                }
            }
            return failures
        }
    }
}
