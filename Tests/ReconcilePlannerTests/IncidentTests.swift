import Foundation
import ReconcileModel
import ReconcilePlanner
import Testing

@Suite struct IncidentTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let policies = [
        "mail": NotifierPolicy(repeatInterval: .hours(4), sendResolved: true),
        "chat": NotifierPolicy(repeatInterval: .hours(1), sendResolved: false),
    ]

    func failing(_ failing: Bool, key: String = "check/disk", settle: Timespan = .zero) -> Condition {
        Condition(
            key: key, failing: failing, summary: failing ? "\(key) failing" : "\(key) ok", notifiers: ["mail", "chat"],
            settle: settle)
    }

    /// Runs the machine over (minutes after start, condition list, silences) and returns each step's
    /// notices as "kind notifier" strings.
    func play(_ steps: [(Double, [Condition], [String: Date])]) -> [[String]] {
        var incidents: [Incident] = []
        var seen: [[String]] = []
        for (minutes, conditions, silences) in steps {
            let step = IncidentMachine.step(
                incidents: incidents, conditions: conditions, silences: silences, notifiers: policies,
                now: start.addingTimeInterval(minutes * 60))
            incidents = step.open
            seen.append(step.notices.map { "\($0.kind.rawValue) \($0.notifier)" })
        }
        return seen
    }

    @Test func anIncidentFiresOnceRepeatsPerNotifierAndResolves() {
        let seen = play([
            (0, [failing(false)], [:]),
            (1, [failing(true)], [:]),
            (2, [failing(true)], [:]),
            (61, [failing(true)], [:]),  // chat repeats hourly
            (241, [failing(true)], [:]),  // mail every 4 h (chat too: 3 h since its last)
            (250, [failing(false)], [:]),
            (251, [failing(false)], [:]),
        ])
        #expect(
            seen == [
                [], ["firing mail", "firing chat"], [], ["repeat chat"], ["repeat mail", "repeat chat"],
                ["resolved mail"],  // chat does not want resolved notices
                [],
            ])
    }

    @Test func flappingIsOneIncident() {
        let settle = Timespan.minutes(5)
        let seen = play([
            (0, [failing(true, settle: settle)], [:]),
            (1, [failing(false, settle: settle)], [:]),
            (2, [failing(true, settle: settle)], [:]),
            (3, [failing(false, settle: settle)], [:]),
            (4, [failing(true, settle: settle)], [:]),
            (5, [failing(false, settle: settle)], [:]),
            (9, [failing(false, settle: settle)], [:]),
            (10, [failing(false, settle: settle)], [:]),
        ])
        #expect(seen == [["firing mail", "firing chat"], [], [], [], [], [], [], ["resolved mail"]])
        // The flaps are counted on the incident.
        var incidents: [Incident] = []
        for (minute, state) in [(0.0, true), (1, false), (2, true)] {
            incidents =
                IncidentMachine.step(
                    incidents: incidents, conditions: [failing(state, settle: settle)], silences: [:],
                    notifiers: policies, now: start.addingTimeInterval(minute * 60)
                ).open
        }
        #expect(incidents.first?.flaps == 1)
    }

    @Test func aSilenceMutesAndItsEndNotifiesAtOnceWhileStillFailing() {
        let until = start.addingTimeInterval(30 * 60)
        let seen = play([
            (0, [failing(true)], [:]),
            (10, [failing(true)], ["check/disk": until]),
            (20, [failing(true)], ["check/disk": until]),
            (31, [failing(true)], ["check/disk": until]),  // the silence ended, still failing
            (32, [failing(true)], [:]),
        ])
        #expect(seen == [["firing mail", "firing chat"], [], [], ["repeat mail", "repeat chat"], []])
        // Silenced from the start and resolved within the silence: nobody was told, nobody hears.
        let quiet = play([
            (0, [failing(true)], ["check/disk": until]),
            (5, [failing(false)], ["check/disk": until]),
        ])
        #expect(quiet == [[], []])
    }

    @Test func aThingRemovedFromGitResolvesItsIncidentWithThatReason() {
        let first = IncidentMachine.step(
            incidents: [], conditions: [failing(true), failing(true, key: "dag/etl")], silences: [:],
            notifiers: policies, now: start)
        let second = IncidentMachine.step(
            incidents: first.open, conditions: [failing(true, key: "dag/etl")], silences: [:], notifiers: policies,
            now: start.addingTimeInterval(60))
        #expect(second.resolved.map(\.key) == ["check/disk"])
        #expect(second.notices.map(\.summary) == ["check/disk was removed from git"])
        #expect(second.open.map(\.key) == ["dag/etl"])
    }

    /// The same step computed again (a controller that died before saving it) gives the same
    /// idempotency keys, so the outbox stores each notice once.
    @Test func noticesHaveStableIdempotencyKeys() {
        let open = IncidentMachine.step(
            incidents: [], conditions: [failing(true)], silences: [:], notifiers: policies, now: start)
        let again = IncidentMachine.step(
            incidents: [], conditions: [failing(true)], silences: [:], notifiers: policies, now: start)
        #expect(open.notices.map(\.idempotencyKey) == again.notices.map(\.idempotencyKey))
        #expect(open.notices.map(\.idempotencyKey) == ["check/disk@1800000000/mail/1", "check/disk@1800000000/chat/1"])
        let repeated = IncidentMachine.step(
            incidents: open.open, conditions: [failing(true)], silences: [:], notifiers: policies,
            now: start.addingTimeInterval(3600))
        #expect(repeated.notices.map(\.idempotencyKey) == ["check/disk@1800000000/chat/2"])
    }

    @Test(arguments: [
        // results, failAfter, passAfter -> failing after each result
        ([false, false, false, true], 3, 1, [false, false, true, false]),
        ([false, true, false, false, false], 3, 1, [false, false, false, false, true]),  // soft failures reset
        ([false, false, true, true, false], 2, 2, [false, true, true, false, false]),
        ([false, true], 1, 1, [true, false]),
    ])
    func checksTurnHardAfterFailAfterAndPassAfterPassAfter(
        results: [Bool], failAfter: Int, passAfter: Int, expected: [Bool]
    ) {
        var state = CheckState()
        var seen: [Bool] = []
        for (index, passed) in results.enumerated() {
            state.record(
                passed: passed, message: "", at: start.addingTimeInterval(Double(index)), failAfter: failAfter,
                passAfter: passAfter)
            seen.append(state.failing)
        }
        #expect(seen == expected)
    }
}
