import Foundation
import ReconcileAPI
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

/// `reconcile explain`'s answers, from what the planners decided and the runtime stored.
@Suite struct ExplainTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func folder(_ prefix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    }

    func resources(cpu: Int64, memory: Int64) -> Resources {
        Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory))
    }

    /// One replica among three nodes: node-a lacks the label, node-b has no room, node-c takes it;
    /// the explanation names the chosen node's score and each other node's reason, recorded when it
    /// was placed, and the plan is empty once it runs.
    @Test func aReplicaPlacedAmongThreeNodesSaysWhyThatNode() async throws {
        let state = folder("explain-app")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let nodes = [
            NodeSpec(name: "node-a", backend: .process, capacity: resources(cpu: 4000, memory: 4 << 30)),
            NodeSpec(
                name: "node-b", backend: .process, capacity: resources(cpu: 200, memory: 4 << 30),
                labels: ["tier": "web"]),
            NodeSpec(
                name: "node-c", backend: .process, capacity: resources(cpu: 4000, memory: 4 << 30),
                labels: ["tier": "web"]),
        ]
        var drivers: [String: any ContainerDriver] = [:]
        for node in nodes { drivers[node.name] = InMemoryDriver(node: node.name, capacity: node.capacity!) }
        let web = AppSpec(
            name: "web", command: ["fake:sleep"], replicas: 1, resources: resources(cpu: 500, memory: 128 << 20),
            placement: Placement(require: ["tier": "web"]))
        let desired = DesiredState(nodes: nodes, apps: [web])
        let store = try Store(stateDirectory: state)
        let reconciler = Reconciler(pass: Pass(nodes: nodes, drivers: drivers), store: store)
        let first = try await reconciler.run(desired: desired, revision: "c1", dryRun: false, now: now)
        #expect(first.plan.starts.map(\.node) == ["node-c"])
        let second = try await reconciler.run(desired: desired, revision: "c1", dryRun: false, now: now)
        let queries = Queries(store: store, stateDirectory: state)
        let explained = try queries.explainApp(
            web, replicas: second.observed.containers.filter { $0.app == "web" },
            change: second.plan.changes.first { $0.app == "web" }, actions: second.plan.actions)
        #expect(explained.replicas.count == 1)
        let replica = try #require(explained.replicas.first)
        #expect(replica.node == "node-c")
        #expect(replica.score == "88% cpu and 97% memory left")
        #expect(
            replica.rejected == [
                "node-a: lacks label tier=web", "node-b: needs cpu 500m, 200m free",
            ])
        #expect(explained.plan.isEmpty)
        #expect(explained.unplaceable.isEmpty)

        // Scaled past what fits: the plan says the second replica fits nowhere, node by node.
        var wider = web
        wider.replicas = 3
        wider.resources = resources(cpu: 3000, memory: 128 << 20)
        let crowded = DesiredState(nodes: nodes, apps: [wider])
        let third = try await reconciler.run(desired: crowded, revision: "c2", dryRun: true, now: now)
        let planned = try queries.explainApp(
            wider, replicas: third.observed.containers.filter { $0.app == "web" },
            change: third.plan.changes.first { $0.app == "web" }, actions: third.plan.actions)
        #expect(planned.plan.first?.hasPrefix("app web: ") == true)
        #expect(planned.unplaceable.contains("  node-b: needs cpu 3, 200m free"))
        #expect(planned.unplaceable.contains("  node-a: lacks label tier=web"))

        // Removed from git: its replica stops, and its placement is forgotten once it is gone.
        _ = try await reconciler.run(desired: DesiredState(nodes: nodes), revision: "c3", dryRun: false, now: now)
        _ = try await reconciler.run(desired: DesiredState(nodes: nodes), revision: "c3", dryRun: false, now: now)
        #expect(try store.placements(app: "web").isEmpty)
    }

    /// A task queued for room: the single reason and each node's, stored by the runner.
    @Test func aTaskQueuedForRoomSaysWhatItNeeds() async throws {
        let state = folder("explain-room")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let node = NodeSpec(name: "small", backend: .process, capacity: resources(cpu: 1000, memory: 1 << 30))
        let driver = InMemoryDriver(node: "small", capacity: node.capacity!)
        let store = try Store(stateDirectory: state)
        let runner = DAGRunner(nodes: [node], drivers: ["small": driver], store: store, stateDirectory: state)
        _ = try await driver.run(
            ContainerSpec(
                name: "web-0", command: ["fake:sleep"],
                labels: [OwnershipLabels.app: "web", OwnershipLabels.slot: "0", OwnershipLabels.spec: "h"]))
        let app = AppSpec(name: "web", command: ["fake:sleep"], resources: resources(cpu: 800, memory: 256 << 20))
        let heavy = TaskSpec(
            name: "heavy", command: ["fake:exit", "0"], resources: resources(cpu: 500, memory: 128 << 20))
        let dag = DAGSpec(name: "etl", tasks: [heavy])
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        _ = try await runner.run(
            desired: DesiredState(nodes: [node], apps: [app], dags: [dag]), revision: "c1", now: now)
        let explained = try Queries(store: store, stateDirectory: state).explainTask("etl/manual__1/heavy")
        #expect(explained.state == "queued")
        #expect(explained.reason == "queued for room: needs cpu 500m, largest free is 200m (small)")
        #expect(explained.since == now)
        #expect(explained.details == ["small: needs cpu 500m, 200m free"])
        #expect(explained.attempts.isEmpty)
        // The run page and `runs show` carry the same reason.
        let detail = try Queries(store: store, stateDirectory: state).run("etl/manual__1")
        #expect(detail.waiting.map(\.reason) == [explained.reason])
    }

    /// A failed task waiting for its retry: when the next try starts, and the failed try's exit code.
    /// A task whose start the node refused says why (no exit code of its own).
    @Test func aTaskWaitingOnARetrySaysWhen() async throws {
        let state = folder("explain-retry")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let node = NodeSpec(name: "memory", backend: .process)
        let driver = InMemoryDriver(node: "memory", capacity: resources(cpu: 8000, memory: 8 << 30))
        let store = try Store(stateDirectory: state)
        let runner = DAGRunner(nodes: [node], drivers: ["memory": driver], store: store, stateDirectory: state)
        let flaky = TaskSpec(name: "load", command: ["fake:exit", "3"], retries: 2, retryDelay: .minutes(10))
        let imageOnly = TaskSpec(name: "report", image: "report:1")
        let dag = DAGSpec(name: "etl", tasks: [flaky])
        try store.addRun(
            RunRecord(
                dag: "etl", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        let desired = DesiredState(nodes: [node], dags: [dag])
        // The in-memory driver stamps exits with the real clock: this test's passes run on it too.
        let now = Date()
        _ = try await runner.run(desired: desired, revision: "c1", now: now)  // try 1 starts
        let later = now.addingTimeInterval(5)
        let outcome = try await runner.run(desired: desired, revision: "c1", now: later)  // it failed
        let queries = Queries(store: store, stateDirectory: state)
        let explained = try queries.explainTask("etl/manual__1/load")
        #expect(explained.state == "retrying")
        let retryAt = try #require(explained.attempts.first?.finishedAt).addingTimeInterval(600)
        #expect(explained.reason == "try 2 at \(ISO8601DateFormatter().string(from: retryAt))")
        #expect(explained.attempts.map(\.exitCode) == [3])
        // The runner sleeps until then (no poll is needed for a retry).
        #expect(outcome.requeueAt == retryAt)

        // A node that cannot get the image (its registry does not have it): the attempt's error says
        // so, with no exit code, and the run's failure names it instead of an exit code.
        let docker = NodeSpec(name: "dock", backend: .docker(endpoint: "unix:///nonexistent", tls: nil))
        let dockerDriver = InMemoryDriver(node: "dock", capacity: resources(cpu: 8000, memory: 8 << 30))
        let dockerRunner = DAGRunner(
            nodes: [docker], drivers: ["dock": dockerDriver], store: store, stateDirectory: state)
        let refused = DAGSpec(name: "report", tasks: [imageOnly])
        try store.addRun(
            RunRecord(
                dag: "report", runID: "manual__1", logicalDate: now, dataIntervalStart: now, dataIntervalEnd: now,
                commitID: "c1", createdAt: now))
        let report = DesiredState(nodes: [docker], dags: [refused])
        _ = try await dockerRunner.run(desired: report, revision: "c1", now: now)
        _ = try await dockerRunner.run(desired: report, revision: "c1", now: now)
        let failedStart = try queries.explainTask("report/manual__1/report")
        #expect(failedStart.state == "failed")
        #expect(failedStart.attempts.first?.exitCode == nil)
        #expect(failedStart.attempts.first?.error == "image pull failed: report:1 on node dock: manifest unknown")
        #expect(
            try store.runs(dag: "report").first?.failure?.contains(
                "task report failed after 1 try (image pull failed: report:1 on node dock")
                == true)
    }

    /// An incident whose notice could not be delivered: the condition, its settle time and the
    /// notice's state with the receiver's last error.
    @Test func anIncidentWithAFailedNoticeShowsItsState() throws {
        let state = folder("explain-incident")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = try Store(stateDirectory: state)
        let condition = Condition(
            key: "check/api", failing: true, summary: "check api is failing: HTTP 503", notifiers: ["ops-mail"],
            settle: .minutes(2))
        let step = IncidentMachine.step(
            incidents: [], conditions: [condition], silences: [:],
            notifiers: ["ops-mail": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true)], now: now)
        try store.apply(open: step.open, resolved: step.resolved, notices: step.notices, now: now)
        let notice = try #require(step.notices.first)
        try store.markFailed(
            notice.idempotencyKey, error: "smtp: connection refused", retryAt: nil, now: now.addingTimeInterval(30))
        let explained = try Queries(store: store, stateDirectory: state).explainIncident("api", now: now)
        #expect(explained.key == "check/api")
        #expect(explained.open)
        #expect(explained.openedAt == now)
        #expect(explained.settle == "2m")
        #expect(explained.summary == "check api is failing: HTTP 503")
        #expect(explained.notices.count == 1)
        #expect(explained.notices.first?.state == "given up")
        #expect(explained.notices.first?.notifier == "ops-mail")
        #expect(explained.notices.first?.lastError == "smtp: connection refused")
        #expect(throws: Queries.Failure.self) {
            try Queries(store: store, stateDirectory: state).explainIncident("nothing", now: now)
        }
    }
}
