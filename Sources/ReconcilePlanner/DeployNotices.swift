import Foundation
import ReconcileModel

/// The one-off notices an App's `notifyOn:` asks for (pure): one per notifier in its `alerts:` when
/// a rollout completes (`deployed`) or is rolled back (`rolledBack`), with the commit, the image and
/// how long the rollout took. Stored in the same transaction as the rollout event, so a crash
/// neither loses nor repeats one.
public enum DeployNotices {
    public static func notices(
        for events: [RolloutEvent], desired: DesiredState, latest: [String: RolloutEvent]
    ) -> [Notice] {
        let apps = Dictionary(desired.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var notices: [Notice] = []
        for event in events {
            guard let app = apps[event.app] else { continue }
            let wanted: DeployEvent? =
                switch event.kind {
                case .completed: .deployed
                case .rolledBack: .rolledBack
                case .started: nil
                }
            guard let wanted, app.notifyOn.contains(wanted) else { continue }
            let started = latest[event.app].flatMap { $0.kind == .started && $0.toHash == event.toHash ? $0 : nil }
            let took = started.map { Timespan(milliseconds: Int64(event.at.timeIntervalSince($0.at) * 1000)) }
            let image = app.image ?? app.command?.joined(separator: " ") ?? "?"
            let summary: String =
                switch wanted {
                case .deployed:
                    "app \(app.name) deployed revision \(event.toHash.prefix(8)) (\(image)) from commit "
                        + "\(event.commitID.prefix(12))" + (took.map { " in \($0)" } ?? "")
                case .rolledBack:
                    "app \(app.name) was rolled back to revision \(event.toHash.prefix(8)) at commit "
                        + "\(event.commitID.prefix(12)): \(event.detail)"
                }
            let id = "deploy/\(app.name)@\(Int64(event.at.timeIntervalSince1970 * 1000))"
            for notifier in app.alerts {
                notices.append(
                    Notice(
                        incidentID: id, key: "rollout/\(app.name)", notifier: notifier, kind: .info, summary: summary,
                        openedAt: event.at, at: event.at, idempotencyKey: "\(id)/\(notifier)/\(wanted.rawValue)"))
            }
        }
        return notices
    }
}
