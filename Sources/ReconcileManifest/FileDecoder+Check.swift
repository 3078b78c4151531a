import ReconcileModel
import Yams

extension FileDecoder {
    func decodeCheck(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let label = "check \(name ?? reader.rawName)"
        let app = reader.name("app")
        if let app, let node = reader.value("app") { reference(.app, app, at: node, from: "app of \(label)") }
        var probe: CheckSpec.Probe?
        if let logs = reader.object("logs") {
            let within = logs.timespan("within")
            if let within, within.milliseconds == 0, let node = logs.value("within") {
                context.error("within must be longer than 0s", at: node)
            }
            if app == nil && !reader.has("app") {
                context.error("a logs check reads an app's logs; add app: with the App's name", at: logs.node)
            }
            let mode: CheckSpec.LogMode = logs.has("absent") ? .absent : .match
            if let pattern = checkPattern(logs, mode.rawValue), let within {
                probe = .logs(pattern: pattern, mode: mode, within: within)
            }
        } else if let http = reader.object("http") {
            let url = http.string("url")
            if let url, let node = http.value("url"), !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                context.error("url \"\(url)\" must start with http:// or https://", at: node)
            }
            let bodyMatch = checkPattern(http, "bodyMatch")
            if let url { probe = .http(url: url, expect: http.int("expect") ?? 200, bodyMatch: bodyMatch) }
        } else if let tcp = reader.object("tcp") {
            if let host = tcp.string("host"), let port = tcp.int("port") { probe = .tcp(host: host, port: port) }
        } else if let command = reader.stringList("command") {
            probe = .command(command)
        }
        let interval = reader.timespan("interval") ?? .minutes(1)
        let timeout = reader.timespan("timeout") ?? .seconds(10)
        if interval.milliseconds == 0, let node = reader.value("interval") {
            context.error("interval must be longer than 0s", at: node)
        }
        if timeout.milliseconds == 0, let node = reader.value("timeout") {
            context.error("timeout must be longer than 0s", at: node)
        }
        let alerts = reader.nameList("alerts") ?? []
        for (alert, node) in alerts { reference(.notifier, alert, at: node, from: "alerts of \(label)") }
        let failAfter = reader.int("failAfter") ?? 3
        let passAfter = reader.int("passAfter") ?? 1
        guard let name, let probe else { return }
        let check = CheckSpec(
            name: name, app: app, probe: probe, interval: interval, timeout: timeout, failAfter: failAfter,
            passAfter: passAfter, alerts: alerts.map(\.0))
        output.checks.append(.init(spec: check, document: reader.location, name: nameLocation))
    }

    func decodeNotifier(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        var channel: NotifierSpec.Channel?
        if let email = reader.object("email") {
            let to = email.stringList("to") ?? []
            for (index, address) in to.enumerated() where !EmailAddress.isPlausible(address) {
                context.error("\"\(address)\" is not an email address", at: email.sequence("to")![index])
            }
            let from = email.string("from")
            if let from, let node = email.value("from"), !EmailAddress.isPlausible(from) {
                context.error("\"\(from)\" is not an email address", at: node)
            }
            if let smtp = email.object("smtp"), let host = smtp.string("host"), let from {
                let password = smtp.secret("password")
                let username = smtp.string("username")
                if password != nil && username == nil, let node = smtp.value("password") {
                    context.error("an SMTP password needs a username", at: node)
                }
                channel = .email(
                    EmailSettings(
                        to: to, from: from, host: host, port: smtp.int("port") ?? 587,
                        starttls: smtp.bool("starttls") ?? true, username: username, password: password))
            }
        } else if let webhook = reader.object("webhook") {
            var url: WebhookURL?
            if let text = webhook.string("url"), let node = webhook.value("url") {
                if text.hasPrefix("http://") || text.hasPrefix("https://") {
                    url = .literal(text)
                } else if SecretReference.looksLikeReference(text) {
                    do {
                        url = .secret(try SecretReference(parsing: text))
                    } catch {
                        context.error(error, at: node)
                    }
                } else {
                    context.error(
                        "webhook url \"\(text)\" must be an http(s):// URL or a secret reference (env:NAME, file:/path)",
                        at: node)
                }
            }
            let format = webhook.enumeration("format", as: WebhookFormat.self) ?? .json
            if let url { channel = .webhook(url: url, format: format) }
        }
        let repeatInterval = reader.timespan("repeatInterval") ?? .hours(4)
        if repeatInterval.milliseconds == 0, let node = reader.value("repeatInterval") {
            context.error("repeatInterval must be longer than 0s", at: node)
        }
        let sendResolved = reader.bool("sendResolved") ?? true
        guard let name, let channel else { return }
        output.notifiers.append(
            .init(
                spec: NotifierSpec(
                    name: name, channel: channel, repeatInterval: repeatInterval, sendResolved: sendResolved),
                document: reader.location, name: nameLocation))
    }
}

enum EmailAddress {
    /// `local@domain` with no spaces; the SMTP server has the final word.
    static func isPlausible(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && !text.contains(" ")
    }
}
