import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets

/// Applies a plan through the node drivers: stops first (they free room and honour
/// maxUnavailable), then starts, each group with bounded concurrency. Every action is attempted;
/// failures are collected, not thrown, so one bad node does not stop the rest of the pass.
public struct Executor: Sendable {
    /// An action the executor could not carry out, and why: typed, so the pass record, the log and
    /// the metrics say the same thing.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Action: Sendable, Hashable {
            case start(container: String, node: String)
            case stop(app: String, container: String, node: String)
            case route
        }

        public enum Cause: Sendable, Hashable {
            /// The plan names a node or App this pass does not have.
            case unknownNode(String)
            case unknownApp(String)
            /// The image could not be pulled.
            case pullFailed(DriverError)
            /// The node refused (create, start, stop or remove).
            case driver(DriverError)
            /// A secret the App needs could not be read.
            case secret(String)
            /// A published port could not be bound.
            case router(String)
            case other(String)
        }

        public var action: Action
        public var cause: Cause

        public init(_ action: Action, _ cause: Cause) {
            self.action = action
            self.cause = cause
        }

        public var description: String {
            let what: String =
                switch action {
                case .start(let container, let node): "start \(container) on \(node)"
                case .stop(let app, let container, let node): "stop \(app) \(container.prefix(12)) on \(node)"
                case .route: "route published ports"
                }
            let why: String =
                switch cause {
                case .unknownNode(let node): "unknown node \(node)"
                case .unknownApp(let app): "unknown app \(app)"
                case .pullFailed(let error): "image pull failed: \(error)"
                case .driver(let error): "\(error)"
                case .secret(let message): "secret: \(message)"
                case .router(let message): message
                case .other(let message): message
                }
            return "\(what): \(why)"
        }
    }

    let drivers: [String: any ContainerDriver]
    let maxConcurrent: Int
    /// Runs before a container is stopped: the router drains it.
    let beforeStop: (@Sendable (StopContainer) async -> Void)?
    let beforeRemove: (@Sendable (String, String) async -> Void)?
    /// Failed pulls are tried again after a backoff, not on every pass.
    let pulls: PullBackoff
    /// The time the pull backoff is measured in; tests fix it.
    let clock: @Sendable () -> Date

    public init(
        drivers: [String: any ContainerDriver], maxConcurrent: Int = 8,
        beforeStop: (@Sendable (StopContainer) async -> Void)? = nil,
        beforeRemove: (@Sendable (String, String) async -> Void)? = nil, pulls: PullBackoff = PullBackoff(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.pulls = pulls
        self.clock = clock
        self.drivers = drivers
        self.maxConcurrent = maxConcurrent
        self.beforeStop = beforeStop
        self.beforeRemove = beforeRemove
    }

    public func apply(_ plan: Plan, desired: DesiredState, revision: String) async -> [Failure] {
        let apps = Dictionary(desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let stopped = await Bounded.map(plan.stops, limit: maxConcurrent) { stop in await self.stop(stop) }
        let started = await Bounded.map(plan.starts, limit: maxConcurrent) { start in
            await self.start(start, app: apps[start.app], revision: revision, registries: desired.registries)
        }
        return stopped.compactMap { $0 } + started.compactMap { $0 }
    }

    /// Drains the replica from the router, stops it, collects its last output and removes it.
    private func stop(_ stop: StopContainer) async -> Failure? {
        let action = Failure.Action.stop(app: stop.app, container: stop.containerID, node: stop.node)
        guard let driver = drivers[stop.node] else { return Failure(action, .unknownNode(stop.node)) }
        await beforeStop?(stop)
        do {
            try await driver.stop(stop.containerID, grace: stop.grace)
            await beforeRemove?(stop.node, stop.containerID)
            try await driver.remove(stop.containerID)
            return nil
        } catch let error as DriverError {
            return Failure(action, .driver(error))
        } catch {
            return Failure(action, .other("\(error)"))
        }
    }

    /// Pulls a missing image, then creates and starts the replica (adopting one of its name).
    private func start(
        _ start: StartContainer, app: AppSpec?, revision: String, registries: [RegistrySpec]
    ) async -> Failure? {
        let action = Failure.Action.start(container: start.name, node: start.node)
        guard let driver = drivers[start.node] else { return Failure(action, .unknownNode(start.node)) }
        guard let app else { return Failure(action, .unknownApp(start.app)) }
        // Pull a missing image first; the progress deadline counts from the container's start.
        if let image = app.image, driver.runsImages {
            let now = clock()
            if let wait = pulls.backingOff(node: start.node, image: image, now: now) {
                let until = ISO8601DateFormatter().string(from: wait.until)
                return Failure(
                    action,
                    .pullFailed(
                        DriverError(
                            .engine, node: start.node, operation: "pull image \(image)",
                            message: "\(wait.message); \(wait.count) failed, next try at \(until)")))
            }
            do {
                try await ImagePull.prepare(image, policy: app.pull, driver: driver, registries: registries)
                pulls.succeeded(node: start.node, image: image)
            } catch let error as DriverError {
                pulls.failed(node: start.node, image: image, app: app.name, message: error.description, now: now)
                return Failure(action, .pullFailed(error))
            } catch {
                return Failure(action, .other("\(error)"))
            }
        }
        var env = app.env
        let files: [ContainerFile]
        do {
            for (key, reference) in app.secretEnv { env[key] = try SecretReader.read(reference) }
            files = try WorkloadFiles.containerFiles(app.files)
        } catch {
            return Failure(action, .secret("\(error)"))
        }
        do {
            _ = try await driver.run(
                ContainerSpec(
                    name: start.name, image: app.image, command: app.command, env: env, resources: app.resources,
                    ports: app.ports.map(\.container), labels: OwnershipLabels.labels(for: start, revision: revision),
                    network: app.network, files: files, mounts: WorkloadFiles.mounts(app.volumes)))
            return nil
        } catch let error as DriverError where error.kind == .conflict {
            return nil  // already started by an earlier, interrupted pass: adopt it
        } catch let error as DriverError {
            return Failure(action, .driver(error))
        } catch {
            return Failure(action, .other("\(error)"))
        }
    }
}
