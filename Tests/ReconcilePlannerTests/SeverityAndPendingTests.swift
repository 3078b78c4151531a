import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

/// Severities (notifiers' `minSeverity`, escalation) and pending incidents (`fireAfter`) in the
/// pure incident machine.
@Suite struct SeverityAndPendingTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let policies = [
        "slack": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true, minSeverity: .warning),
        "mail": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true, minSeverity: .critical),
    ]

    func condition(
        _ failing: Bool, _ severity: Severity = .critical, fireAfter: Timespan = .zero, key: String = "check/disk"
    ) -> Condition {
        Condition(
            key: key, failing: failing, summary: "\(key) \(failing ? severity.rawValue : "ok")",
            notifiers: ["slack", "mail"], severity: severity, fireAfter: fireAfter)
    }

    /// Each step's notices as "kind notifier severity", and the open incidents' states.
    func play(_ steps: [(minutes: Double, condition: Condition)]) -> [[String]] {
        var incidents: [Incident] = []
        var seen: [[String]] = []
        for (minutes, condition) in steps {
            let step = IncidentMachine.step(
                incidents: incidents, conditions: [condition], silences: [:], notifiers: policies,
                now: start.addingTimeInterval(minutes * 60))
            incidents = step.open
            seen.append(step.notices.map { "\($0.kind.rawValue) \($0.notifier) \($0.severity?.rawValue ?? "-")" })
        }
        return seen
    }

    @Test(
        arguments: [
            // A warning reaches only the notifier that takes warnings.
            (
                [(0.0, false, Severity.warning), (1, true, .warning), (2, false, .warning)],
                [[], ["firing slack warning"], ["resolved slack warning"]]
            ),
            // A critical one reaches both.
            (
                [(0, true, .critical), (1, false, .critical)],
                [
                    ["firing slack critical", "firing mail critical"],
                    ["resolved slack critical", "resolved mail critical"],
                ]
            ),
            // Warning then critical: slack hears it escalate, mail hears it fire; both hear it end.
            (
                [
                    (0, true, .warning), (1, true, .warning), (2, true, .critical), (3, true, .critical),
                    (4, false, .critical),
                ],
                [
                    ["firing slack warning"], [], ["escalated slack critical", "firing mail critical"], [],
                    ["resolved slack critical", "resolved mail critical"],
                ]
            ),
            // Critical easing to warning tells no one again; mail still hears the end it was told of.
            (
                [(0, true, .critical), (1, true, .warning), (2, false, .warning)],
                [
                    ["firing slack critical", "firing mail critical"], [],
                    ["resolved slack warning", "resolved mail warning"],
                ]
            ),
        ] as [([(Double, Bool, Severity)], [[String]])])
    func severitiesPickNotifiersAndEscalationNotifiesAgain(steps: [(Double, Bool, Severity)], expected: [[String]]) {
        #expect(play(steps.map { ($0.0, condition($0.1, $0.2)) }) == expected)
    }

    /// A condition with `fireAfter` is pending (no notice) until it has failed that long; one that
    /// passes first ends silently and a new failure starts the wait again.
    @Test func aPendingIncidentFiresOnlyAfterItsWait() {
        let wait = Timespan.minutes(5)
        let seen = play([
            (0, condition(true, fireAfter: wait)),
            (4, condition(true, fireAfter: wait)),
            (4.5, condition(false, fireAfter: wait)),  // ends silently
            (6, condition(true, fireAfter: wait)),  // waits anew
            (10, condition(true, fireAfter: wait)),
            (11, condition(true, fireAfter: wait)),
            (12, condition(false, fireAfter: wait)),
        ])
        #expect(
            seen == [
                [], [], [], [], [], ["firing slack critical", "firing mail critical"],
                ["resolved slack critical", "resolved mail critical"],
            ])
    }

    @Test func aPendingIncidentIsStoredAsPendingWithItsStart() {
        let step = IncidentMachine.step(
            incidents: [], conditions: [condition(true, fireAfter: .minutes(5))], silences: [:], notifiers: policies,
            now: start)
        #expect(step.open.count == 1 && step.notices.isEmpty)
        #expect(step.open[0].isFiring == false && step.open[0].pendingSince == start && step.open[0].openedAt == start)
        let later = IncidentMachine.step(
            incidents: step.open, conditions: [condition(true, fireAfter: .minutes(5))], silences: [:],
            notifiers: policies, now: start.addingTimeInterval(300))
        #expect(later.open[0].isFiring && later.open[0].openedAt == start, "the incident counts from its first failure")
    }

    /// Incidents stored before severities existed read as critical and firing.
    @Test func anIncidentStoredBeforeSeveritiesIsCriticalAndFiring() throws {
        let old =
            #"{"id":"check/disk@1","key":"check/disk","openedAt":0,"summary":"x","notifiers":["mail"],"settle":{"milliseconds":0},"flaps":0,"lastNotified":{},"notices":{},"heldBySilence":false}"#
        let incident = try JSONDecoder().decode(Incident.self, from: Data(old.utf8))
        #expect(incident.severity == .critical && incident.isFiring)
    }
}

/// Grouping (pure): per notifier, what is due goes as one message once its oldest first-time
/// notice has waited `groupWait`; retries do not wait.
@Suite struct NoticeGroupTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func pending(_ key: String, to notifier: String, at seconds: Double, attempts: Int = 0) -> NoticeGroups.Pending {
        let at = start.addingTimeInterval(seconds)
        return NoticeGroups.Pending(
            notice: Notice(
                incidentID: "\(key)@1", key: key, notifier: notifier, kind: .firing, summary: key, openedAt: at, at: at,
                idempotencyKey: "\(key)/\(notifier)/1"), attempts: attempts)
    }

    @Test(arguments: [
        // Three due within 10 s of the first: nothing before the first waited 10 s, then all three.
        (9.9, [] as [[String]]),
        (10.0, [["check/a", "check/b", "check/c"]]),
    ])
    func noticesDueWithinGroupWaitGoTogether(at seconds: Double, expected: [[String]]) {
        let due = [
            pending("check/a", to: "mail", at: 0), pending("check/b", to: "mail", at: 4),
            pending("check/c", to: "mail", at: 9),
        ]
        let groups = NoticeGroups.ready(due, groupWait: ["mail": .seconds(10)], now: start.addingTimeInterval(seconds))
        #expect(groups.map { $0.map(\.notice.key) } == expected)
    }

    @Test func eachNotifierGroupsOnItsOwnAndRetriesDoNotWait() {
        let due = [
            pending("check/a", to: "mail", at: 0), pending("check/a", to: "chat", at: 0),
            pending("check/b", to: "pager", at: -60, attempts: 2), pending("check/c", to: "pager", at: 0, attempts: 1),
        ]
        let groups = NoticeGroups.ready(
            due, groupWait: ["mail": .seconds(10), "chat": .zero, "pager": .seconds(30)],
            now: start.addingTimeInterval(1))
        // chat waits for nothing; mail's first notice is 1 s old; pager's are retries.
        #expect(
            groups.map { $0.map { "\($0.notice.notifier) \($0.notice.key)" } } == [
                ["chat check/a"], ["pager check/b", "pager check/c"],
            ])
    }
}
