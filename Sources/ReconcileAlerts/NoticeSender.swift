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
        switch notifier.channel {
        case .email(let settings): await email(notice, settings)
        case .webhook(let url, let format): await webhook(notice, url: url, format: format, notifier: notifier.name)
        }
    }

    // MARK: Email

    static func subject(_ notice: Notice) -> String {
        let state =
            switch notice.kind {
            case .firing: "FIRING"
            case .repeat: "FIRING, still"
            case .resolved: "RESOLVED"
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
        _ notice: Notice, url: WebhookURL, format: WebhookFormat, notifier: String
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
        request.body = .bytes(ByteBuffer(bytes: Self.payload(notice, format: format, notifier: notifier)))
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
    /// the notice itself.
    static func payload(_ notice: Notice, format: WebhookFormat, notifier: String) -> [UInt8] {
        let time = ISO8601DateFormatter()
        let status = notice.kind == .resolved ? "resolved" : "firing"
        let object: [String: Any]
        switch format {
        case .slack:
            let icon = notice.kind == .resolved ? ":white_check_mark:" : ":rotating_light:"
            object = ["text": "\(icon) *\(subject(notice))*\n\(notice.summary)"]
        case .alertmanager:
            let labels = ["alertname": notice.key, "incident": notice.incidentID]
            let alert: [String: Any] = [
                "status": status, "labels": labels, "annotations": ["summary": notice.summary],
                "startsAt": time.string(from: notice.openedAt),
                "endsAt": notice.kind == .resolved ? time.string(from: notice.at) : "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": String(StableHash.fnv1a(notice.incidentID), radix: 16),
            ]
            object = [
                "version": "4", "groupKey": notice.incidentID, "truncatedAlerts": 0, "status": status,
                "receiver": notifier, "groupLabels": ["alertname": notice.key], "commonLabels": labels,
                "commonAnnotations": ["summary": notice.summary], "externalURL": "", "alerts": [alert],
            ]
        case .json:
            object = [
                "key": notice.key, "incident": notice.incidentID, "kind": notice.kind.rawValue, "status": status,
                "summary": notice.summary, "openedAt": time.string(from: notice.openedAt),
                "at": time.string(from: notice.at), "idempotencyKey": notice.idempotencyKey,
            ]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }
}
