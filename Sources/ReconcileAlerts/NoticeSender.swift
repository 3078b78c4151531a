import AsyncHTTPClient
import CSMTP
import Foundation
import NIOCore
import ReconcileModel
import ReconcilePlanner
import ReconcileSecrets

/// What one delivery attempt came to.
public enum DeliveryOutcome: Sendable, Hashable {
    case sent
    /// Try again: after the receiver's wish (HTTP 429 Retry-After) or the outbox's backoff.
    case retry(after: TimeInterval?, String)
    /// The receiver refused it for good (HTTP 4xx other than 429, SMTP 5xx) or it cannot be sent.
    case permanent(String)
}

/// Sends notices to email (SMTP through libcurl) and webhooks (Slack, Alertmanager v4, JSON).
/// Messages never contain a secret: webhook URLs and SMTP passwords are read at send time from
/// their references and appear in no error.
public struct NoticeSender: Sendable {
    let timeout: Timespan

    public init(timeout: Timespan = .seconds(10)) { self.timeout = timeout }

    public func send(_ notice: Notice, via notifier: NotifierSpec) async -> DeliveryOutcome {
        await send([notice], via: notifier)
    }

    /// Sends `notices` (to one notifier) as one message: a single notice as itself, several as a
    /// digest listing each (one email, one Slack post, one Alertmanager payload with every alert).
    public func send(_ notices: [Notice], via notifier: NotifierSpec) async -> DeliveryOutcome {
        guard let first = notices.first else { return .sent }
        let message = notices.count == 1 ? first : Self.digest(notices)
        switch notifier.channel {
        case .email(let settings): return await email(message, settings)
        case .webhook(let url, let format):
            return await webhook(
                message, url: url, format: format, notifier: notifier.name, members: notices.count == 1 ? nil : notices)
        }
    }

    /// Several notices as one: the subject counts them, the summary lists each, and the idempotency
    /// key derives from theirs (the same group sent again is the same message).
    public static func digest(_ notices: [Notice]) -> Notice {
        let keys = notices.map(\.idempotencyKey).joined(separator: "\n")
        let hash = String(StableHash.fnv1a(keys), radix: 16)
        let summary = notices.map { "• \(subject($0))\n\($0.summary)" }.joined(separator: "\n\n")
        let firing = notices.contains { $0.kind != .resolved && $0.kind != .info }
        return Notice(
            incidentID: "group-\(hash)", key: "\(notices.count) notices", notifier: notices[0].notifier,
            kind: firing ? .firing : .resolved, summary: summary, openedAt: notices.map(\.openedAt).min()!,
            at: notices.map(\.at).max()!, idempotencyKey: "group/\(hash)",
            severity: notices.compactMap(\.severity).max())
    }

    // MARK: Email

    public static func subject(_ notice: Notice) -> String {
        let severity = notice.severity.map { " \($0.rawValue)" } ?? ""
        let state =
            switch notice.kind {
            case .firing: "FIRING\(severity)"
            case .repeat: "FIRING\(severity), still"
            case .escalated: "ESCALATED to critical"
            case .resolved: "RESOLVED"
            case .info: "INFO"
            }
        return "[\(state)] \(notice.key)"
    }

    /// An RFC 5322 message whose Message-ID derives from the notice's idempotency key, so a
    /// delivery repeated after a crash is the same message to the receiving side.
    static func message(_ notice: Notice, from: String, to: [String]) -> String {
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.timeZone = TimeZone(identifier: "UTC")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let id = String(notice.idempotencyKey.map { $0.isLetter || $0.isNumber || "-.".contains($0) ? $0 : "." })
        let opened = ISO8601DateFormatter().string(from: notice.openedAt)
        let lines = [
            "From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(subject(notice))",
            "Date: \(date.string(from: notice.at))", "Message-ID: <\(id)@reconcile>",
            "X-Reconcile-Idempotency-Key: \(notice.idempotencyKey)", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "", notice.summary, "",
            "incident \(notice.incidentID), opened \(opened)", "",
        ]
        return lines.joined(separator: "\r\n")
    }

    private func email(_ notice: Notice, _ settings: EmailSettings) async -> DeliveryOutcome {
        let password: String?
        do {
            password = try settings.password.map { try SecretReader.read($0) }
        } catch {
            return .permanent("\(error)")
        }
        let message = Self.message(notice, from: settings.from, to: settings.to)
        let url = "smtp://\(settings.host):\(settings.port)"
        let seconds = max(1, Int(timeout.seconds))
        let (code, reply, text) = await withCheckedContinuation { continuation in
            // libcurl blocks: on a thread of its own, not the cooperative pool.
            Thread.detachNewThread {
                var reply = 0
                var error = [CChar](repeating: 0, count: 512)
                let recipients = settings.to.map { strdup($0) }
                defer { for recipient in recipients { free(recipient) } }
                let bytes = Array(message.utf8)
                let result = recipients.map { UnsafePointer($0) }.withUnsafeBufferPointer { to in
                    bytes.withUnsafeBufferPointer { body in
                        body.withMemoryRebound(to: CChar.self) { characters in
                            reconcile_smtp_send(
                                url, settings.starttls ? 1 : 0, settings.username, password, settings.from,
                                to.baseAddress, Int32(to.count), characters.baseAddress, characters.count,
                                seconds, &reply, &error, error.count)
                        }
                    }
                }
                let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                continuation.resume(returning: (result, reply, text))
            }
        }
        if code == 0 { return .sent }
        let problem = "SMTP \(settings.host):\(settings.port): \(text)\(reply > 0 ? " (reply \(reply))" : "")"
        return (500..<600).contains(reply) ? .permanent(problem) : .retry(after: nil, problem)
    }

    // MARK: Webhooks

    private func webhook(
        _ notice: Notice, url: WebhookURL, format: WebhookFormat, notifier: String, members: [Notice]?
    ) async
        -> DeliveryOutcome
    {
        let target: String
        let shown: String
        switch url {
        case .literal(let text):
            target = text
            shown = URL(string: text)?.host.map { "webhook at \($0)" } ?? "webhook"
        case .secret(let reference):
            do {
                target = try SecretReader.read(reference).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                return .permanent("\(error)")
            }
            shown = "webhook from \(reference)"
        }
        var request = HTTPClientRequest(url: target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: notice.idempotencyKey)
        request.body = .bytes(
            ByteBuffer(bytes: Self.payload(notice, format: format, notifier: notifier, members: members)))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.seconds)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let status = Int(response.status.code)
            switch status {
            case 200..<300: return .sent
            case 429:
                let wait = response.headers.first(name: "Retry-After").flatMap(Self.retryAfter)
                return .retry(after: wait, "\(shown): HTTP 429 (too many requests)")
            case 400..<500: return .permanent("\(shown): HTTP \(status); not retried")
            default: return .retry(after: nil, "\(shown): HTTP \(status)")
            }
        } catch {
            return .retry(after: nil, "\(shown): \(type(of: error))")
        }
    }

    /// Retry-After as seconds or an HTTP date.
    static func retryAfter(_ value: String) -> TimeInterval? {
        if let seconds = TimeInterval(value.trimmingCharacters(in: .whitespaces)) { return max(0, seconds) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return format.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }

    /// The body: Slack's incoming-webhook JSON, the Alertmanager webhook payload (version 4), or
    /// the notice itself. A digest (`members`) carries each member: Alertmanager's `alerts`, the
    /// JSON form's `notices`.
    public static func payload(
        _ notice: Notice, format: WebhookFormat, notifier: String, members: [Notice]? = nil
    )
        -> [UInt8]
    {
        let time = ISO8601DateFormatter()
        let status = notice.kind == .resolved ? "resolved" : "firing"
        let object: [String: Any]
        switch format {
        case .slack:
            let icon =
                switch notice.kind {
                case .resolved: ":white_check_mark:"
                case .info: ":information_source:"
                default: notice.severity == .warning ? ":warning:" : ":rotating_light:"
                }
            object = ["text": "\(icon) *\(subject(notice))*\n\(notice.summary)"]
        case .alertmanager:
            let alerts = (members ?? [notice]).map { member -> [String: Any] in
                var labels = ["alertname": member.key, "incident": member.incidentID]
                if let severity = member.severity { labels["severity"] = severity.rawValue }
                return [
                    "status": member.kind == .resolved ? "resolved" : "firing", "labels": labels,
                    "annotations": ["summary": member.summary], "startsAt": time.string(from: member.openedAt),
                    "endsAt": member.kind == .resolved ? time.string(from: member.at) : "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": String(StableHash.fnv1a(member.incidentID), radix: 16),
                ]
            }
            let labels = ["alertname": notice.key, "incident": notice.incidentID]
            object = [
                "version": "4", "groupKey": notice.incidentID, "truncatedAlerts": 0, "status": status,
                "receiver": notifier, "groupLabels": ["alertname": notice.key],
                "commonLabels": members == nil ? labels : [:],
                "commonAnnotations": members == nil ? ["summary": notice.summary] : [:], "externalURL": "",
                "alerts": alerts,
            ]
        case .json:
            func fields(_ notice: Notice) -> [String: Any] {
                var object: [String: Any] = [
                    "key": notice.key, "incident": notice.incidentID, "kind": notice.kind.rawValue,
                    "status": notice.kind == .resolved ? "resolved" : "firing",
                    "summary": notice.summary, "openedAt": time.string(from: notice.openedAt),
                    "at": time.string(from: notice.at), "idempotencyKey": notice.idempotencyKey,
                ]
                if let severity = notice.severity { object["severity"] = severity.rawValue }
                return object
            }
            var object0 = fields(notice)
            if let members { object0["notices"] = members.map(fields) }
            object = object0
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }
}
