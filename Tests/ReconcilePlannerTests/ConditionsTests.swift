import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// The conditions (pure): one per monitored thing, each with its settle time, so a flapping thing is
/// one incident.
@Suite struct ConditionsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    var state: DesiredState {
        DesiredState(
            nodes: [NodeSpec(name: "a", backend: .process)],
            apps: [AppSpec(name: "web", command: ["serve"], alerts: ["mail"])],
            dags: [DAGSpec(name: "etl", tasks: [TaskSpec(name: "load", command: ["load"])], alerts: ["mail"])],
            checks: [
                CheckSpec(
                    name: "disk", probe: .command(["check"]), interval: .seconds(30), failAfter: 3, alerts: ["mail"])
            ],
            notifiers: [
                NotifierSpec(
                    name: "mail",
                    channel: .email(EmailSettings(to: ["ops@example.com"], from: "r@example.com", host: "localhost")))
            ])
    }

    @Test(arguments: [
        ("check/disk", Timespan.seconds(90)), ("dag/etl", .minutes(10)), ("rollout/web", .minutes(5)),
        ("node/a", .minutes(1)), ("commit", .minutes(2)), ("pull/web", .minutes(5)), ("crashloop/web", .minutes(1)),
        ("degraded/web", .minutes(2)), ("unplaceable/web", .minutes(2)), ("queued/etl", .minutes(5)),
    ])
    func everyConditionHasASettleTime(key: String, settle: Timespan) throws {
        let conditions = Conditions.from(state: state, facts: ConditionFacts(nodes: ["a"]))
        let condition = try #require(conditions.first { $0.key == key })
        #expect(condition.settle == settle)
        #expect(!condition.failing)
        // Every condition that exists for this state is in the table above.
        #expect(conditions.count == 10, "\(conditions.map(\.key))")
    }

    @Test func factsMakeConditionsFail() {
        var disk = CheckState()
        disk.record(passed: false, message: "CRITICAL", at: t0, failAfter: 1, passAfter: 1)
        var facts = ConditionFacts(
            checks: ["disk": disk],
            lastFinishedRuns: ["etl": .init(runID: "r1", failed: true, failure: "dag etl run r1 failed: task load")],
            failedRollouts: ["web": SpecHash.of(state.apps[0])], nodes: ["a"], unreachable: ["a": t0],
            invalidCommit: .init(commit: "abcdef0123456789", errors: ["a.yaml:1:1: error: bad"]))
        facts.pullFailures = ["web": "node a: pull image r.example:5000/web:2: unauthorized (registry private)"]
        let failing = Conditions.from(state: state, facts: facts).filter(\.failing).map(\.key)
        #expect(failing == ["check/disk", "dag/etl", "rollout/web", "pull/web", "node/a", "commit"])
        let pull = Conditions.from(state: state, facts: facts).first { $0.key == "pull/web" }
        #expect(pull?.summary.contains("registry private") == true)
        #expect(pull?.notifiers == ["mail"])
        let dag = Conditions.from(state: state, facts: facts).first { $0.key == "dag/etl" }
        #expect(dag?.summary == "dag etl run r1 failed: task load")
        #expect(dag?.notifiers == ["mail"])
    }

    /// A DAG whose runs fail, succeed, and fail again within its settle time is one incident (it was
    /// a new incident each time with a settle time of 0); it resolves once it has succeeded that long.
    @Test func aFlappingDAGIsOneIncident() {
        let policies = ["mail": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true)]
        var incidents: [Incident] = []
        var notices: [[String]] = []
        for (minute, failed) in [(0.0, true), (3, false), (6, true), (8, false), (17, false), (18.5, false)] {
            let facts = ConditionFacts(
                lastFinishedRuns: ["etl": .init(runID: "r\(minute)", failed: failed)], nodes: ["a"])
            let step = IncidentMachine.step(
                incidents: incidents, conditions: Conditions.from(state: state, facts: facts), silences: [:],
                notifiers: policies, now: t0.addingTimeInterval(minute * 60))
            incidents = step.open
            notices.append(step.notices.map { "\($0.kind.rawValue) \($0.key)" })
        }
        #expect(notices == [["firing dag/etl"], [], [], [], [], ["resolved dag/etl"]])
    }

    /// Keys are built and read in one place: a bare name is a check's, an unknown kind is refused.
    @Test(
        arguments: [
            ("disk", "check/disk"), ("check/disk", "check/disk"), ("dag/etl", "dag/etl"),
            ("rollout/web", "rollout/web"),
            ("node/a", "node/a"), ("commit", "commit"), ("foo/bar", nil), ("dag/", nil), ("", nil),
        ] as [(String, String?)])
    func conditionKeysParse(text: String, key: String?) {
        #expect(ConditionKey(parsing: text)?.description == key)
    }
}
