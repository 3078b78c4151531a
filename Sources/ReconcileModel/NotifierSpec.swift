/// Where alerts go: email through SMTP, or a webhook (Slack, Alertmanager or plain JSON).
public struct NotifierSpec: Sendable, Hashable {
    public enum Channel: Sendable, Hashable {
        case email(EmailSettings)
        case webhook(url: WebhookURL, format: WebhookFormat)
    }

    public var name: String
    public var channel: Channel
    public var repeatInterval: Timespan
    public var sendResolved: Bool
    /// Incidents below this severity are not sent here.
    public var minSeverity: Severity
    /// Notices due within this of the first are sent as one message.
    public var groupWait: Timespan

    public init(
        name: String, channel: Channel, repeatInterval: Timespan = .hours(4), sendResolved: Bool = true,
        minSeverity: Severity = .warning, groupWait: Timespan = .zero
    ) {
        self.minSeverity = minSeverity
        self.groupWait = groupWait
        self.name = name
        self.channel = channel
        self.repeatInterval = repeatInterval
        self.sendResolved = sendResolved
    }
}

public struct EmailSettings: Sendable, Hashable {
    public var to: [String]
    public var from: String
    public var host: String
    public var port: Int
    public var starttls: Bool
    public var username: String?
    public var password: SecretReference?

    public init(
        to: [String], from: String, host: String, port: Int = 587, starttls: Bool = true, username: String? = nil,
        password: SecretReference? = nil
    ) {
        self.to = to
        self.from = from
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self.password = password
    }
}

/// A webhook target: a literal `http(s)://` URL or a secret reference (Slack URLs are secrets).
public enum WebhookURL: Sendable, Hashable {
    case literal(String)
    case secret(SecretReference)
}

public enum WebhookFormat: String, Sendable, Hashable, CaseIterable {
    case slack
    case alertmanager
    case json
}
