import Foundation
import ReconcileModel
import Yams

extension FileDecoder {
    /// `kind: Silence`: matchers, and a fixed window (`from`/`until`) or a recurring one
    /// (`cron` + `duration`, in `timezone`).
    func decodeSilence(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        var matchers: [SilenceSpec.Matcher] = []
        for item in reader.objectList("matchers") ?? [] {
            guard let incident = item.string("incident"), let node = item.value("incident") else { continue }
            let kind = incident.split(separator: "/", maxSplits: 1).first.map(String.init) ?? incident
            if incident.contains("/"), !kind.contains("*"), !kind.contains("?"), !ConditionKey.kinds.contains(kind) {
                let hint =
                    Suggestion.closest(to: kind, among: ConditionKey.kinds).map { " (did you mean \"\($0)\"?)" } ?? ""
                context.error(
                    "\"\(kind)\" is not an incident kind\(hint); incident keys are commit or KIND/NAME with KIND one of "
                        + ConditionKey.kinds.joined(separator: ", "), at: node)
                continue
            }
            matchers.append(
                SilenceSpec.Matcher(incident: incident, severity: item.enumeration("severity", as: Severity.self)))
        }
        let from = reader.parsed("from", expected: "an RFC 3339 time", Timestamp.parse)
        let until = reader.parsed("until", expected: "an RFC 3339 time", Timestamp.parse)
        let schedule = reader.parsed("cron", expected: "a cron expression", CronSchedule.init(parsing:))
        let duration = reader.timespan("duration")
        let timezone = reader.parsed("timezone", expected: "a time zone") {
            (text: String) throws(ValueError) -> String in
            _ = try TimeZoneName.zone(named: text)
            return text
        }
        var window: SilenceSpec.Window?
        if reader.has("cron") || reader.has("duration") {
            if reader.has("from") || reader.has("until"), let node = reader.value("from") ?? reader.value("until") {
                context.error(
                    "a silence has a fixed window (from, until) or a recurring one (cron, duration), not both",
                    at: node)
            } else if !reader.has("duration") {
                context.error(
                    "a recurring silence needs duration: how long each window lasts, e.g. 2h", at: reader.node)
            } else if !reader.has("cron") {
                context.error("duration needs cron: the cron expression each window starts at", at: reader.node)
            } else if let duration, duration.milliseconds == 0, let node = reader.value("duration") {
                context.error("duration must be longer than 0s", at: node)
            } else if let schedule, let duration {
                window = .recurring(schedule: schedule, duration: duration, timezone: timezone ?? "UTC")
            }
        } else if reader.has("from") || reader.has("until") {
            if let from, let until {
                if until <= from, let node = reader.value("until") {
                    context.error("until must be after from", at: node)
                } else {
                    window = .fixed(
                        from: Date(timeIntervalSince1970: from), until: Date(timeIntervalSince1970: until))
                }
            } else if from != nil || until != nil {
                context.error("a fixed window needs both from: and until: (RFC 3339 times)", at: reader.node)
            }
        } else {
            context.error(
                "a silence needs a window: from and until (RFC 3339), or cron and duration", at: reader.node)
        }
        guard let name, let window, !matchers.isEmpty else { return }
        output.silences.append(
            .init(
                spec: SilenceSpec(name: name, matchers: matchers, window: window, comment: reader.string("comment")),
                document: reader.location, name: nameLocation))
    }
}
