import AsyncHTTPClient
import Foundation
import ReconcileAPI
import ReconcileAlerts
import ReconcileDrivers
import ReconcileGit
import ReconcileLogs
import ReconcileModel
import ReconcilePlanner
import ReconcileRouter
import ReconcileStore
import ServiceLifecycle
import Synchronization

/// The continuous controller: polls git every `interval`, and every `tick` runs a reconcile pass
/// on the commit in force (the last valid one), serving published ports through its router. An
/// invalid commit is reported and skipped; the previous one stays in force. A swift-service-lifecycle
/// service: on graceful shutdown (SIGTERM) it finishes the pass in progress, plans nothing more and
/// closes its listeners; containers and running DAG tasks keep running, and the next start adopts them.
public final class Controller: Service {
    public struct Options: Sendable {
        public var interval: Timespan
        public var tick: Timespan
        public var stateDirectory: String
        public var shimPath: String?
        /// The address published ports listen on.
        public var publishAddress: String
        /// Pinged (GET) after every pass: a dead-man switch for an outside monitor.
        public var heartbeatURL: String?
        /// Finished DAG runs older than this are deleted (nil: kept forever).
        public var retain: Timespan?
        /// The longest a quiet cluster goes without a pass (`QuietTicks`); 10 s.
        public var quietSpan: Timespan = .seconds(10)

        public init(
            interval: Timespan = .seconds(30), tick: Timespan = .seconds(2), stateDirectory: String,
            shimPath: String? = nil, publishAddress: String = "127.0.0.1", heartbeatURL: String? = nil,
            retain: Timespan? = .hours(90 * 24)
        ) {
            self.retain = retain
            self.heartbeatURL = heartbeatURL
            self.interval = interval
            self.tick = tick
            self.stateDirectory = stateDirectory
            self.shimPath = shimPath
            self.publishAddress = publishAddress
        }
    }

    let source: GitManifestSource
    let options: Options
    public let store: Store
    public let log: @Sendable (String) -> Void
    public let router: Router
    /// The router's request metrics and access logs.
    public let traffic: RouterTraffic
    let health = HealthMonitor()
    /// Failed image pulls of App replicas and their backoff, kept across rebuilt passes.
    let pulls = PullBackoff()
    /// Crash-looping replicas' last output, for their notices.
    let crashOutput = CrashOutput()
    public let alerting: Alerting
    public let logCollector: LogCollector
    let stopRequested: @Sendable () -> Bool
    public let metrics = ControllerMetrics()
    /// Set by a verified push webhook: poll git now.
    private let pollRequested = Mutex(false)
    private let latest = Mutex<Current?>(nil)

    /// What the last pass saw, for the API.
    public struct Current: Sendable {
        public var state: DesiredState
        public var commit: String
        public var apps: [AppView]
        public var nodes: [NodeView]
        public var replicas: [ReplicaView]
        /// When the commit was first applied (by this or an earlier controller on the state directory).
        public var appliedAt: Date?
        /// What the pass observed and planned, for `reconcile explain`.
        public var observed: Observed
        public var plan: Plan
    }

    public func current() -> Current? { latest.withLock { $0 } }

    /// Polls git at once (a push webhook arrived) instead of at the next `interval`.
    public func requestPoll() { pollRequested.withLock { $0 = true } }

    private let passRequested = Mutex(false)

    /// Runs the next tick's pass and DAG step even while the cluster is quiet (the API or the UI
    /// changed something: a drain, a trigger, a pause).
    public func requestPass() { passRequested.withLock { $0 = true } }

    private func takePollRequest() -> Bool {
        pollRequested.withLock { requested in
            defer { requested = false }
            return requested
        }
    }
    let heartbeatProblem = Mutex<String?>(nil)

    /// - Parameter stopRequested: true once a stop was asked for outside the service lifecycle
    ///   (a SIGTERM that arrived before its handlers were installed).
    public init(
        source: GitManifestSource, options: Options, store: Store, log: @escaping @Sendable (String) -> Void,
        stopRequested: @escaping @Sendable () -> Bool = { false }
    ) {
        self.source = source
        self.options = options
        self.store = store
        self.log = log
        self.stopRequested = stopRequested
        traffic = RouterTraffic(
            registry: metrics.registry, logs: LogStore(stateDirectory: options.stateDirectory))
        router = Router(address: options.publishAddress, observer: traffic)
        alerting = Alerting(store: store, metrics: metrics, log: log)
        logCollector = LogCollector(store: store, logs: LogStore(stateDirectory: options.stateDirectory), log: log)
    }

    public func run() async {
        // Stops between passes on graceful shutdown, or on cancellation.
        let stopRequested = self.stopRequested
        @Sendable func stopping() -> Bool { Task.isCancelled || Task.isShuttingDownGracefully || stopRequested() }
        // Checks, incidents and notifications run beside the reconcile loop.
        async let alertsStopped: Void = alerting.run(stopping: stopping)
        // So does log collection.
        async let logsStopped: Void = logCollector.run(stopping: stopping)
        async let trafficStopped: Void = traffic.run(stopping: stopping)
        var snapshot: GitManifestSource.Snapshot?
        var reconciler: Reconciler?
        var dagRunner: DAGRunner?
        var nodes: [NodeSpec]?
        var lastPoll = Date.distantPast
        var lastReport: [String] = []
        // The last app plan's ledger: nodes held there for App replicas waiting for room take no task.
        var appPlan: Plan?
        // The tick's observation, and the exit-notice mark read before it (an exit during the app
        // pass still wakes the DAG runner).
        var tickCluster: ClusterSnapshot?
        var tickMark: DAGRunner.ChangeMark?
        var lastRetention = Date.distantPast
        var quiet = QuietTicks()
        while !stopping() {
            var quietTick = false
            if takePollRequest() || Date().timeIntervalSince(lastPoll) >= options.interval.seconds {
                lastPoll = Date()
                switch await source.poll() {
                case .applied(let new):
                    log("commit \(new.commit.prefix(12)): \(new.state.apps.count) apps, \(new.state.dags.count) DAGs")
                    if new.state.registries != snapshot?.state.registries {
                        // Each Registry's credentials, tried once per change from the controller's host.
                        let log = self.log
                        for registry in new.state.registries {
                            Task {
                                log(
                                    "registry \(registry.name) (\(registry.server)): \(await RegistryLogin.check(registry))"
                                )
                            }
                        }
                    }
                    snapshot = new
                    alerting.update { $0?.invalidCommit = nil }
                case .unchanged(_, let inForce):
                    snapshot = inForce ?? snapshot
                case .invalid(let commit, let diagnostics, let inForce):
                    log("commit \(commit.prefix(12)) is invalid; keeping the last valid one")
                    for diagnostic in diagnostics { log(diagnostic.description) }
                    snapshot = inForce ?? snapshot
                    let errors = diagnostics.map(\.description)
                    if let state = snapshot?.state {
                        alerting.update { inputs in
                            if inputs == nil { inputs = Alerting.Inputs(state: state) }
                            inputs?.invalidCommit = (commit, errors)
                        }
                    }
                case .failed(let error, let inForce):
                    metrics.gitFetchErrors.increment()
                    log("git: \(error)")
                    snapshot = inForce ?? snapshot
                }
            }
            if let snapshot {
                // Git's nodes with their drains, and nodes removed from git that are still drained.
                var clusterNodes: ClusterNodes.Resolved?
                do {
                    clusterNodes = try ClusterNodes.resolve(declared: snapshot.state.nodes, store: store, now: Date())
                } catch {
                    log("nodes: \(error)")
                }
                if let clusterNodes, reconciler == nil || nodes != clusterNodes.all {
                    do {
                        var state = snapshot.state
                        state.nodes = clusterNodes.declared
                        // A replica's last output is collected after it stops, before it is removed.
                        let collector = logCollector
                        let (pass, note) = try await Pass.forState(
                            state, retired: clusterNodes.retired, stateDirectory: options.stateDirectory,
                            shimPath: options.shimPath,
                            publishAddress: options.publishAddress, pulls: pulls, health: health, router: router,
                            beforeRemove: { node, id in await collector.collectNow(node: node, containerID: id) })
                        if let note { log(note) }
                        reconciler = Reconciler(pass: pass, store: store)
                        dagRunner = DAGRunner(
                            nodes: pass.nodes, drivers: pass.drivers, store: store,
                            stateDirectory: options.stateDirectory, metrics: metrics)
                        nodes = clusterNodes.all
                    } catch {
                        log("nodes: \(error)")
                    }
                }
                let requested = passRequested.withLock { requested in
                    defer { requested = false }
                    return requested
                }
                let storeVersion = try? store.externalVersion()
                if reconciler != nil, !requested,
                    quiet.holds(
                        commit: snapshot.commit, nodes: nodes ?? [], mark: dagRunner?.changeMark(),
                        storeVersion: storeVersion, now: Date())
                {
                    // Nothing can have changed since the last pass: no pass this tick.
                    quietTick = true
                    metrics.quietTicks.increment()
                    heartbeat()
                } else if let reconciler {
                    do {
                        let started = ContinuousClock.now
                        tickMark = dagRunner?.changeMark()
                        let cluster = await ClusterSnapshot.take(
                            nodes: reconciler.pass.nodes, drivers: reconciler.pass.drivers, now: Date(),
                            networks: ClusterSnapshot.needsNetworks(snapshot.state))
                        tickCluster = cluster
                        let result = try await reconciler.run(
                            desired: snapshot.state, revision: snapshot.commit, dryRun: false, now: Date(),
                            snapshot: cluster)
                        record(
                            result, snapshot: snapshot, specs: reconciler.pass.nodes,
                            duration: ContinuousClock.now - started)
                        // A node removed from git is forgotten once nothing of ours runs there.
                        for name in try ClusterNodes.forgetEmpty(
                            clusterNodes?.retired ?? [], snapshot: cluster, observed: result.observed,
                            lostAfter: reconciler.pass.options.nodeLostAfter, now: Date(), store: store)
                        {
                            log("node \(name): removed from git and nothing of ours runs there; forgotten")
                        }
                        // Volumes removed from git: their data kept, or deleted (reclaim: delete).
                        var volumeLines: [String] = []
                        do {
                            volumeLines = try await VolumeReclaim.run(
                                desired: snapshot.state, nodes: reconciler.pass.nodes,
                                drivers: reconciler.pass.drivers, store: store)
                        } catch {
                            volumeLines = ["error: volumes: \(error)"]
                        }
                        // Report what a pass does, and a standing condition once until it changes.
                        let lines =
                            PlanText.lines(result.plan).lines + volumeLines
                            + result.observed.nodes.filter { $0.unreachableSince != nil }.map {
                                "! node \($0.name): unreachable"
                            } + result.failures.map { "error: \($0)" }
                        if lines != lastReport || !result.plan.actions.isEmpty {
                            for line in lines { log(line) }
                            if lines.isEmpty { log("in sync: \(result.plan.unchanged.count) apps") }
                        }
                        lastReport = lines
                        appPlan = result.plan
                        let state = snapshot.state
                        let pass = reconciler.pass
                        var unreachable: [String: Date] = [:]
                        for node in result.observed.nodes { unreachable[node.name] = node.unreachableSince }
                        let pulls = self.pulls.failing()
                        let apps = await crashOutput.fill(
                            AppFacts.derive(
                                desired: state, observed: result.observed, plan: result.plan,
                                options: pass.options, now: Date()),
                            drivers: pass.drivers)
                        alerting.update { [unreachable] inputs in
                            var updated = inputs ?? Alerting.Inputs(state: state)
                            updated.state = state
                            updated.nodes = pass.nodes
                            updated.checkRunner = CheckRunner(
                                nodes: pass.nodes, drivers: pass.drivers, listings: cluster.listings,
                                listedAt: cluster.takenAt, store: store)
                            updated.apps = apps
                            updated.unreachable = unreachable
                            updated.pullFailures = pulls
                            inputs = updated
                        }
                        logCollector.update(
                            LogCollector.Inputs(nodes: pass.nodes, drivers: pass.drivers, snapshot: cluster))
                        // Retention: at start, then every minute while a round is full, else every 10 minutes.
                        if let retain = options.retain, Date().timeIntervalSince(lastRetention) >= 600 {
                            let deleted = try await RunRetention.run(
                                retain: retain, store: store, stateDirectory: options.stateDirectory,
                                drivers: pass.drivers, now: Date())
                            lastRetention = deleted == RunRetention.batch ? Date().addingTimeInterval(-540) : Date()
                            if deleted > 0 { log("retention: \(deleted) finished runs older than \(retain) deleted") }
                        }
                        heartbeat()
                        quiet.passed(
                            result, state: snapshot.state, commit: snapshot.commit, nodes: nodes ?? [], mark: tickMark,
                            storeVersion: storeVersion, cap: options.quietSpan, now: Date())
                    } catch {
                        quiet.reset()
                        log("pass failed: \(error)")
                    }
                }
            }
            // Until the next tick, DAG runs are advanced again as soon as a task exits (process nodes
            // send a notice; others are polled every 50 ms) or when the DAG step asked to run again (a
            // retry or a timeout comes due, a cron tick), so a task's exit starts its downstream tasks
            // promptly instead of on the next tick.
            let nextTick = Date().addingTimeInterval(options.tick.seconds)
            repeat {
                var active = false
                var wakeAt = nextTick
                // The tick's first DAG step reads the tick's observation; later ones list afresh.
                let cluster = tickCluster
                let mark = tickMark ?? dagRunner?.changeMark()
                tickCluster = nil
                tickMark = nil
                if quietTick, quiet.skipsDAGStep(now: Date()) {
                    // No run active and nothing due before the step asked to run again.
                    wakeAt = min(wakeAt, quiet.dagDue)
                } else if let dagRunner, let snapshot {
                    do {
                        let outcome = try await dagRunner.run(
                            desired: snapshot.state, revision: snapshot.commit, now: Date(), appPlan: appPlan,
                            snapshot: cluster)
                        for line in outcome.events { log(line) }
                        active = outcome.active
                        if let requeue = outcome.requeueAt { wakeAt = min(wakeAt, requeue) }
                        quiet.dagStepRan(active: outcome.active, requeueAt: outcome.requeueAt)
                    } catch {
                        quiet.dagStepRan(active: true, requeueAt: nil)
                        log("dags: \(error)")
                    }
                }
                if active, let dagRunner, let mark {
                    await dagRunner.waitForChange(after: mark, until: wakeAt)
                    if pollRequested.withLock({ $0 }) { break }
                    continue
                }
                // Sleeps in steps of at most 1 s, so a shutdown or a webhook's poll is noticed within
                // one (each wake-up costs an idle controller more than the check it makes).
                while !stopping(), wakeAt.timeIntervalSinceNow > 0, !pollRequested.withLock({ $0 }) {
                    try? await Task.sleep(
                        nanoseconds: UInt64(max(0, min(1, wakeAt.timeIntervalSinceNow)) * 1_000_000_000))
                }
            } while !stopping() && Date() < nextTick && !pollRequested.withLock({ $0 })
        }
        await router.shutdown()
        await alertsStopped
        await logsStopped
        await trafficStopped
    }

    /// Metrics and the API's view of a pass.
    private func record(
        _ result: Pass.Result, snapshot: GitManifestSource.Snapshot, specs: [NodeSpec], duration: Duration
    ) {
        let (apps, nodes) = StatusViews.make(state: snapshot.state, observed: result.observed, specs: specs)
        metrics.record(result, apps: apps, nodes: nodes, duration: duration)
        if let counts = try? store.stateCounts() { metrics.record(runs: counts.runs, attempts: counts.attempts) }
        let appliedAt: Date?
        if let known = latest.withLock({ $0 }), known.commit == snapshot.commit {
            appliedAt = known.appliedAt
        } else {
            appliedAt = (try? store.firstPass(commit: snapshot.commit)) ?? Date()
        }
        latest.withLock {
            $0 = Current(
                state: snapshot.state, commit: snapshot.commit, apps: apps, nodes: nodes,
                replicas: StatusViews.replicas(result.observed), appliedAt: appliedAt, observed: result.observed,
                plan: result.plan)
        }
    }

    /// Pings `heartbeatURL` without waiting for the answer (a slow monitor never slows a pass).
    private func heartbeat() {
        guard let url = options.heartbeatURL else { return }
        let log = self.log
        Task { [self] in
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            var problem: String?
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if response.status.code >= 400 { problem = "HTTP \(response.status.code)" }
            } catch {
                problem = "\(type(of: error))"
            }
            // Reported when it changes, not every pass.
            let changed = heartbeatProblem.withLock { last in
                defer { last = problem }
                return last != problem
            }
            if changed { log(problem.map { "heartbeat: \($0)" } ?? "heartbeat: answered again") }
        }
    }
}
