import ArgumentParser
import Foundation
import Logging
import ReconcileGit
import ReconcileModel
import ReconcileRuntime
import ReconcileSecrets
import ReconcileServer
import ReconcileStore
import ServiceLifecycle
import Synchronization

/// `reconcile controller`: the continuous loop, until SIGTERM or SIGINT.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run continuously: poll git, reconcile every few seconds, serve published ports.",
        discussion: """
            Polls the repository every --interval and runs a reconcile pass every --tick on the last \
            valid commit (an invalid commit is reported and skipped). Published ports listen on \
            --publish-address. Stops on SIGTERM or SIGINT after the pass in progress.
            """)

    @OptionGroup(title: "Git")
    var git: GitOptions

    @Option(help: "How often to poll git, e.g. 30s or 1m.")
    var interval: String = "30s"

    @Option(help: "How often to observe, plan and apply, e.g. 2s.")
    var tick: String = "2s"

    @Option(
        help: """
            The longest a settled cluster goes without a pass, e.g. 10s: while every replica is ready and \
            nothing exits or changes, ticks skip the pass (health probes keep their own interval).
            """)
    var quietSpan: String = "10s"

    @Option(help: "Address the published ports listen on.")
    var publishAddress: String = "127.0.0.1"

    @Option(help: "Pinged (HTTP GET) after every pass, so an outside monitor notices a stopped controller.")
    var heartbeatURL: String?

    @Option(help: "Address of the HTTP server (API, /metrics, /healthz, /hooks/git); port 0 picks a free one.")
    var listen: String = "127.0.0.1:7600"

    @Option(
        help: """
            Bearer token of the API and the web UI's login, as a secret reference (env:NAME or \
            file:/path); default: one generated into <state>/api-token.
            """)
    var apiToken: String?

    @Option(help: "Shared secret of git push webhooks (GitHub, GitLab, Gitea), as a secret reference.")
    var webhookSecret: String?

    @Option(
        help: ArgumentHelp(
            "Serve the HTTP server over TLS with this PEM certificate chain: a file path or a secret reference.",
            valueName: "file"))
    var tlsCert: String?

    @Option(
        help: ArgumentHelp("The private key (PEM) of --tls-cert: a file path or a secret reference.", valueName: "file")
    )
    var tlsKey: String?

    @Option(help: "Log lines as text or json (one object per line).")
    var logFormat: LogFormat = .text

    @Option(
        help: """
            Delete finished DAG runs (attempts, saved output, run volumes) this long after they finished, \
            oldest first; never a running run or a DAG's newest run. never keeps them forever.
            """)
    var retain: String = "90d"

    func run() async throws {
        // A SIGTERM or SIGINT before the service group's handlers exist still stops gracefully.
        signal(SIGTERM) { _ in earlyStop.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in earlyStop.store(true, ordering: .relaxed) }
        let interval: Timespan
        let tick: Timespan
        let quietSpan: Timespan
        var retention: Timespan?
        var tls: (chain: String, key: String)?
        do {
            interval = try Timespan(parsing: self.interval)
            tick = try Timespan(parsing: self.tick)
            quietSpan = try Timespan(parsing: self.quietSpan)
            if retain != "never" {
                retention = try Timespan(parsing: retain)
                guard retention!.milliseconds > 0 else { throw ValueError("--retain must be longer than 0s, or never") }
            }
            switch (tlsCert, tlsKey) {
            case (let cert?, let key?):
                tls = (try Self.pem(cert, option: "--tls-cert"), try Self.pem(key, option: "--tls-key"))
                _ = try ControllerServer.serverTLS(tls!)
            case (nil, nil):
                break
            default:
                throw ValueError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
            }
        } catch let error as ValueError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
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
            try StateDirectory.secure(git.state)
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
        var server: ControllerServer.Options
        do {
            let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port), !parts[0].isEmpty else {
                throw ValueError("--listen takes HOST:PORT, e.g. 127.0.0.1:7600, not \"\(listen)\"")
            }
            server = ControllerServer.Options(
                host: String(parts[0]), port: port,
                apiToken: try apiToken.map { try SecretReader.read(try SecretReference(parsing: $0)) }
                    ?? GeneratedToken.load(stateDirectory: git.state),
                webhookSecret: try webhookSecret.map { try SecretReader.read(try SecretReference(parsing: $0)) })
            server.tls = tls
        } catch let error as ValueError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let format = logFormat
        LogFormat.bootstrap(format)
        var options = Controller.Options(
            interval: interval, tick: tick, stateDirectory: git.state, publishAddress: publishAddress,
            heartbeatURL: heartbeatURL, retain: retention)
        options.quietSpan = quietSpan
        let controller = Controller(
            source: source,
            options: options,
            store: store,
            log: { line in LogFormat.write(line, format) }, stopRequested: { earlyStop.load(ordering: .relaxed) })
        // SIGTERM and SIGINT shut down gracefully: the pass in progress finishes, running containers
        // and tasks keep running.
        let logger = Logger(label: "reconcile.service")
        let scheme = server.tls == nil ? "http" : "https"
        let host = server.host
        let httpService: ServiceGroupConfiguration.ServiceConfiguration
        do {
            let http = try ControllerServer.application(
                controller: controller, options: server, stateDirectory: git.state, logger: logger,
                onRunning: { [apiToken, state = git.state] port in
                    LogFormat.write("api: listening on \(scheme)://\(host):\(port)", format)
                    if apiToken == nil {
                        LogFormat.write(
                            "web UI: \(scheme)://\(host):\(port)/ (log in with the token in "
                                + "\(GeneratedToken.path(stateDirectory: state)); no --api-token was given)", format)
                    }
                })
            // The HTTP server failing (its port taken) must not stop reconciling: it is reported.
            httpService = .init(
                service: ReportingService(http, name: "http server", format: format), serviceName: "http")
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var configuration = ServiceGroupConfiguration(
            services: [
                // The controller returns only when asked to stop: also for a SIGTERM that came before the
                // group watched for signals (the early handler's flag), when the group has not begun
                // its graceful shutdown yet. That is a graceful stop of the group, not a failure.
                .init(
                    service: controller, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "controller"
                ),
                httpService,
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: configuration)
        try await group.run()
        withExtendedLifetime(lock) {}
        LogFormat.write("controller stopped", format)
    }
}

/// Set by the early signal handlers (an atomic store is async-signal-safe).
let earlyStop = Atomic<Bool>(false)

enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json

    /// The controller's log: swift-log, bootstrapped once with `LineLogHandler` in this format, so
    /// the controller's lines and those of the libraries under it (HTTP server, service group) share it.
    static func bootstrap(_ format: LogFormat) {
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format) }
    }

    static let controller = Logger(label: "reconcile.controller")

    /// One line at info level (`!` lines and errors at warning).
    static func write(_ line: String, _ format: LogFormat) {
        let level: Logger.Level = line.hasPrefix("!") || line.hasPrefix("error") ? .warning : .info
        controller.log(level: level, "\(line)")
    }
}

/// Writes each record as one line on standard output: `TIME message` (text), or
/// `{"time":...,"level":...,"label":...,"message":...}` with its metadata (json).
struct LineLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(label: String, format: LogFormat) {
        self.label = label
        self.format = format
        // The controller's own lines from info on; libraries only when something is wrong.
        logLevel = label == "reconcile.controller" ? .info : .warning
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        var data: Data
        switch format {
        case .text:
            let source = label == "reconcile.controller" ? "" : "\(label): "
            data = Data("\(stamp) \(source)\(event.message)\n".utf8)
        case .json:
            var object: [String: String] = [
                "time": stamp, "level": event.level.rawValue, "message": "\(event.message)", "label": label,
            ]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
                object[key] = "\(value)"
            }
            data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            data.append(10)
        }
        FileHandle.standardOutput.write(data)
    }
}

/// Runs a service; when it fails, says so and ends without taking the others down.
struct ReportingService<Wrapped: Service>: Service {
    let wrapped: Wrapped
    let name: String
    let format: LogFormat

    init(_ wrapped: Wrapped, name: String, format: LogFormat) {
        self.wrapped = wrapped
        self.name = name
        self.format = format
    }

    func run() async throws {
        do {
            try await wrapped.run()
        } catch {
            LogFormat.write("error: \(name): \(error); continuing without it", format)
            try? await gracefulShutdown()
        }
    }
}

extension ControllerCommand {
    /// A PEM file's text: a secret reference (file:/path, env:NAME) or a plain path.
    static func pem(_ text: String, option: String) throws -> String {
        if SecretReference.looksLikeReference(text) { return try SecretReader.read(try SecretReference(parsing: text)) }
        guard let data = FileManager.default.contents(atPath: text) else {
            throw ValueError("\(option): cannot read \(text)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
