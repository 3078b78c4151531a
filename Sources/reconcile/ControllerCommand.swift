import ArgumentParser
import Foundation
import Logging
import ReconcileController
import ReconcileGit
import ReconcileModel
import ReconcileStore
import ServiceLifecycle
import Synchronization

/// `reconcile controller`: the continuous loop, until SIGTERM or SIGINT.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run continuously: poll git, reconcile every few seconds, serve published ports.",
        discussion: """
            Polls the repository every --interval and runs a reconcile pass every --tick on the last
            valid commit (an invalid commit is reported and skipped). Published ports listen on
            --publish-address. Stops on SIGTERM or SIGINT after the pass in progress.
            """)

    @OptionGroup(title: "Git")
    var git: GitOptions

    @Option(help: "How often to poll git, e.g. 30s or 1m.")
    var interval: String = "30s"

    @Option(help: "How often to observe, plan and apply, e.g. 2s.")
    var tick: String = "2s"

    @Option(help: "Address the published ports listen on.")
    var publishAddress: String = "127.0.0.1"

    @Option(help: "Pinged (HTTP GET) after every pass, so an outside monitor notices a stopped controller.")
    var heartbeatURL: String?

    func run() async throws {
        // A SIGTERM or SIGINT before the service group's handlers exist still stops gracefully.
        signal(SIGTERM) { _ in earlyStop.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in earlyStop.store(true, ordering: .relaxed) }
        let interval: Timespan
        let tick: Timespan
        do {
            interval = try Timespan(parsing: self.interval)
            tick = try Timespan(parsing: self.tick)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let source: GitManifestSource
        do {
            source = try git.manifestSource(repository: git.repo ?? ".")
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let lock: ControllerLock
        let store: Store
        do {
            lock = try ControllerLock(stateDirectory: git.state)
            store = try Store(stateDirectory: git.state)
            // The commands (`dags list`, `logs`, ...) read DAGs from the repository the controller follows.
            try store.setSetting(SourceSetting.repo, SourceSetting.location(of: git.repo ?? "."))
            try store.setSetting(SourceSetting.ref, git.ref)
            try store.setSetting(SourceSetting.path, git.subpath)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let controller = Controller(
            source: source,
            options: Controller.Options(
                interval: interval, tick: tick, stateDirectory: git.state, publishAddress: publishAddress,
                heartbeatURL: heartbeatURL),
            store: store,
            log: { line in
                let stamp = ISO8601DateFormatter().string(from: Date())
                FileHandle.standardOutput.write(Data("\(stamp) \(line)\n".utf8))
            }, stopRequested: { earlyStop.load(ordering: .relaxed) })
        // SIGTERM and SIGINT shut down gracefully: the pass in progress finishes, running containers
        // and tasks keep running.
        var logger = Logger(label: "reconcile.controller")
        logger.logLevel = .warning
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: controller, serviceName: "controller")],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        withExtendedLifetime(lock) {}
        print("controller stopped")
    }
}

/// Set by the early signal handlers (an atomic store is async-signal-safe).
let earlyStop = Atomic<Bool>(false)
