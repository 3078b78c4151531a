import ReconcileModel
import Yams

extension FileDecoder {
    func decodeCheck(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let label = "check \(name ?? reader.rawName)"
        let app = reader.name("app")
        if let app, let node = reader.value("app") { reference(.app, app, at: node, from: "app of \(label)") }
        var task: CheckSpec.TaskTarget?
        if let text = reader.string("task"), let node = reader.value("task") {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
                task = CheckSpec.TaskTarget(dag: parts[0], task: parts[1])
                reference(.dag, parts[0], at: node, from: "task of \(label)")
                output.taskReferences.append(
                    .init(dag: parts[0], task: parts[1], location: context.location(of: node), from: "task of \(label)")
                )
            } else {
                context.error("task \"\(text)\" must be DAG/TASK, e.g. nightly-etl/load", at: node)
            }
        }
        if reader.has("app") && reader.has("task"), let node = reader.value("task") {
            context.error("a check reads an app's logs or a task's output, not both; remove app: or task:", at: node)
        }
        var probe: CheckSpec.Probe?
        if let logs = reader.object("logs") {
            var within = logs.timespan("within")
            if let within, within.milliseconds == 0, let node = logs.value("within") {
                context.error("within must be longer than 0s", at: node)
            }
            if app == nil && task == nil && !reader.has("app") && !reader.has("task") {
                context.error(
                    "a logs check reads an app's logs or a task's output; add app: with the App's name or task: DAG/TASK",
                    at: logs.node)
            }
            var mode: CheckSpec.LogMode = logs.has("absent") ? .absent : .match
            var pattern = checkPattern(logs, logs.has("absent") ? "absent" : "match")
            if let count = logs.object("count") {
                let above = count.int("above")
                let below = count.int("below")
                if above == nil && below == nil {
                    context.error(
                        "count needs above: N (more lines fail) or below: N (fewer lines fail)", at: count.node)
                }
                if let above, let below, above < below, let node = count.value("above") {
                    context.error(
                        "count can never pass: above \(above) fails at \(above + 1) lines or more and below \(below) under \(below)",
                        at: node)
                }
                mode = .count(above: above, below: below)
                pattern = checkPattern(count, "pattern")
                within = positiveTimespan(count, "over")
            } else if within == nil && !reader.has("task") {
                context.error(
                    "within: is required: the window the pattern is looked for in, e.g. within: 5m", at: logs.node)
            }
            // A task's output is judged over its whole latest run when no window is given.
            if let pattern, let window = within ?? (task != nil ? Timespan.zero : nil) {
                probe = .logs(pattern: pattern, mode: mode, within: window)
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
        let interval = positiveTimespan(reader, "interval") ?? .minutes(1)
        let timeout = positiveTimespan(reader, "timeout") ?? .seconds(10)
        let alerts = reader.nameList("alerts") ?? []
        for (alert, node) in alerts { reference(.notifier, alert, at: node, from: "alerts of \(label)") }
        let failAfter = reader.int("failAfter") ?? 3
        let passAfter = reader.int("passAfter") ?? 1
        if task != nil, probe != nil, reader.object("logs") == nil, let node = reader.value("task") {
            context.error("task: reads a task's output, which only a logs check does", at: node)
        }
        guard let name, let probe else { return }
        let check = CheckSpec(
            name: name, app: app, probe: probe, interval: interval, timeout: timeout, failAfter: failAfter,
            passAfter: passAfter, alerts: alerts.map(\.0), severity: reader.enumeration("severity", as: Severity.self),
            task: task)
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
        let repeatInterval = positiveTimespan(reader, "repeatInterval") ?? .hours(4)
        let sendResolved = reader.bool("sendResolved") ?? true
        let groupWait = reader.timespan("groupWait") ?? .seconds(10)
        guard let name, let channel else { return }
        output.notifiers.append(
            .init(
                spec: NotifierSpec(
                    name: name, channel: channel, repeatInterval: repeatInterval, sendResolved: sendResolved,
                    minSeverity: reader.enumeration("minSeverity", as: Severity.self) ?? .warning, groupWait: groupWait),
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
