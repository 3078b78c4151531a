import ReconcileModel

/// The manifest format as data: which keys each mapping accepts and what their values are.
///
/// The loader checks keys against these tables (so unknown keys and hints come from one place) and
/// `JSONSchema` renders them for editors, so the two cannot drift apart.
indirect enum ValueSchema: Sendable {
    case string
    case integer(minimum: Int?, maximum: Int?)
    case boolean
    case duration
    case cpu
    case memory
    case cron
    case timezone
    case timestamp
    case name
    case secretReference
    case enumeration([String])
    case list(ValueSchema, minItems: Int)
    case map(ValueSchema)
    case object(ObjectSchema)
    case anyOf([ValueSchema])
}

struct FieldSchema: Sendable {
    let key: String
    let value: ValueSchema
    let required: Bool
    let summary: String

    init(_ key: String, _ value: ValueSchema, required: Bool = false, _ summary: String) {
        self.key = key
        self.value = value
        self.required = required
        self.summary = summary
    }
}

struct ObjectSchema: Sendable {
    let title: String
    let fields: [FieldSchema]
    /// Groups of keys of which exactly one must be present.
    let exactlyOne: [[String]]

    init(_ title: String, exactlyOne: [[String]] = [], _ fields: [FieldSchema]) {
        self.title = title
        self.fields = fields
        self.exactlyOne = exactlyOne
    }

    var keys: [String] { fields.map(\.key) }

    func field(_ key: String) -> FieldSchema? { fields.first { $0.key == key } }
}

enum Schemas {
    static let resources = ObjectSchema(
        "resources",
        [
            FieldSchema("cpu", .cpu, "cores: 2, 0.5 or 500m"),
            FieldSchema("memory", .memory, "bytes: 256Mi, 1Gi, 512M, 1G or 1048576"),
        ])

    static let common: [FieldSchema] = [
        FieldSchema("kind", .enumeration(Kind.allCases.map(\.rawValue)), required: true, "document kind"),
        FieldSchema("name", .name, required: true, "DNS label, unique per kind"),
    ]

    static let tls = ObjectSchema(
        "tls",
        [
            FieldSchema("ca", .string, required: true, "CA certificate file on the controller host"),
            FieldSchema("cert", .string, required: true, "client certificate file"),
            FieldSchema("key", .string, required: true, "client key file"),
        ])

    static let node = ObjectSchema(
        "Node", exactlyOne: [["docker", "process"]],
        common + [
            FieldSchema("docker", .string, "Docker Engine endpoint: unix:///var/run/docker.sock or tcp://host:2376"),
            FieldSchema("process", .object(ObjectSchema("process", [])), "run commands as host processes"),
            FieldSchema("tls", .object(tls), "client certificates for a tcp:// engine"),
            FieldSchema("capacity", .object(resources), "schedulable capacity; default: what the engine reports"),
            FieldSchema("labels", .map(.string), "labels matched by placement.require"),
            FieldSchema(
                "address", .string,
                "IP or DNS name the controller and other hosts reach it at; default: the tcp:// host, else --publish-address"
            ),
            FieldSchema("bindAll", .boolean, "publish container ports on 0.0.0.0 instead of address, default false"),
            FieldSchema("schedulable", .boolean, "false drains the node: no new work, replicas move; default true"),
            FieldSchema(
                "allowHostPath", .boolean,
                "let hostPath volumes mount /, the state directory or the Docker socket (gives containers the node); default false"
            ),
        ])

    static let file = ObjectSchema(
        "file", exactlyOne: [["from", "content", "secret"]],
        [
            FieldSchema(
                "path", .string, required: true, "absolute path in the container (process nodes: under $FILES)"),
            FieldSchema(
                "from", .string, "a file of the repository, relative to the manifest root (not read as a manifest)"),
            FieldSchema("content", .string, "the file's text, inline"),
            FieldSchema("secret", .secretReference, "env:NAME or file:/path, read at start, never stored"),
            FieldSchema(
                "mode", .anyOf([.integer(minimum: 0, maximum: 777), .string]), "octal bits; default 0644, secrets 0400"),
        ])

    static let volumeMount = ObjectSchema(
        "volume", exactlyOne: [["name", "hostPath"]],
        [
            FieldSchema("name", .name, "a Volume of the repository (or of the DAG, for tasks)"),
            FieldSchema("hostPath", .string, "an absolute folder on the node"),
            FieldSchema(
                "mount", .string, required: true, "absolute path in the container (process nodes: under $FILES)"),
            FieldSchema("readOnly", .boolean, "default false"),
        ])

    static let volume = ObjectSchema(
        "Volume",
        common + [
            FieldSchema("node", .name, "the Node that holds the data; required when several Nodes are declared"),
            FieldSchema(
                "shared", .boolean, "replicas may use it at once (a rollout starts before it stops); default false"),
            FieldSchema(
                "reclaim", .enumeration(VolumeSpec.Reclaim.allCases.map(\.rawValue)),
                "retain (default: data kept when the Volume leaves git) or delete"),
        ])

    static let port = ObjectSchema(
        "port",
        [
            FieldSchema("name", .name, required: true, "port name, referenced by health checks"),
            FieldSchema("container", .integer(minimum: 1, maximum: 65535), required: true, "port the app listens on"),
            FieldSchema("publish", .integer(minimum: 1, maximum: 65535), "router port on the controller host"),
            FieldSchema(
                "protocol", .enumeration(PortProtocol.allCases.map(\.rawValue)),
                "tcp (default: connections spliced) or http (requests balanced over keep-alive connections)"),
            FieldSchema("hosts", .list(.string, minItems: 1), "http: Host names routed to this app on its port"),
            FieldSchema("tls", .object(portTLS), "http: serve the published port over TLS"),
            FieldSchema("accessLog", .boolean, "http: one log line per request (source router); default false"),
        ])

    static let portTLS = ObjectSchema(
        "tls",
        [
            FieldSchema("cert", .secretReference, required: true, "PEM certificate chain: file:/path or env:NAME"),
            FieldSchema("key", .secretReference, required: true, "PEM private key: file:/path or env:NAME"),
            FieldSchema(
                "redirectFrom", .integer(minimum: 1, maximum: 65535),
                "a plain HTTP port answering these hosts with a redirect to HTTPS"),
        ])

    static let healthHTTP = ObjectSchema(
        "http",
        [
            FieldSchema("port", .anyOf([.name, .integer(minimum: 1, maximum: 65535)]), required: true, "port name"),
            FieldSchema("path", .string, "request path, default /"),
            FieldSchema("expect", .integer(minimum: 100, maximum: 599), "expected status, default 200"),
        ])

    static let healthTCP = ObjectSchema(
        "tcp",
        [FieldSchema("port", .anyOf([.name, .integer(minimum: 1, maximum: 65535)]), required: true, "port name")])

    static let health = ObjectSchema(
        "health", exactlyOne: [["http", "tcp", "command"]],
        [
            FieldSchema("http", .object(healthHTTP), "HTTP GET probe"),
            FieldSchema("tcp", .object(healthTCP), "TCP connect probe"),
            FieldSchema("command", .list(.string, minItems: 1), "argv run in the container; exit 0 is healthy"),
            FieldSchema("interval", .duration, "default 10s"),
            FieldSchema("timeout", .duration, "default 2s"),
            FieldSchema("failureThreshold", .integer(minimum: 1, maximum: nil), "default 3"),
            FieldSchema("startPeriod", .duration, "failures ignored this long after start, default 0s"),
        ])

    static let update = ObjectSchema(
        "update",
        [
            FieldSchema("maxSurge", .integer(minimum: 0, maximum: nil), "extra replicas during an update, default 1"),
            FieldSchema("maxUnavailable", .integer(minimum: 0, maximum: nil), "replicas below desired, default 0"),
            FieldSchema("minReadyTime", .duration, "healthy this long before the next step, default 0s"),
            FieldSchema("progressDeadline", .duration, "default 5m, image pull excluded"),
            FieldSchema("autoRollback", .boolean, "default true"),
            FieldSchema("stopGracePeriod", .duration, "SIGTERM to SIGKILL, default 30s"),
        ])

    static let placement = ObjectSchema(
        "placement",
        [
            FieldSchema("require", .map(.string), "node labels that must match"),
            FieldSchema("spread", .boolean, "replicas on different nodes where possible, default true"),
        ])

    static let app = ObjectSchema(
        "App",
        common + [
            FieldSchema("image", .string, "container image; required on Docker nodes"),
            FieldSchema("command", .list(.string, minItems: 1), "argv, never passed through a shell"),
            FieldSchema("env", .map(.string), "environment variables"),
            FieldSchema("secretEnv", .map(.secretReference), "environment from secret references"),
            FieldSchema("replicas", .integer(minimum: 0, maximum: 1000), "default 1"),
            FieldSchema("resources", .object(resources), "requests, also hard limits; default cpu 100m, memory 128Mi"),
            FieldSchema("ports", .list(.object(port), minItems: 0), "ports the app listens on"),
            FieldSchema("health", .object(health), "readiness probe"),
            FieldSchema("update", .object(update), "rolling update strategy"),
            FieldSchema("placement", .object(placement), "node selection"),
            FieldSchema("restart", .enumeration(RestartPolicy.allCases.map(\.rawValue)), "default always"),
            FieldSchema(
                "alerts", .list(.name, minItems: 0),
                "notifiers for crash loops, degraded or unplaceable replicas, failed pulls and rolled-back rollouts"),
            FieldSchema(
                "alertAfter", .duration,
                "below its ready replicas or unplaceable this long opens an incident, default 5m"),
            FieldSchema(
                "notifyOn", .list(.enumeration(DeployEvent.allCases.map(\.rawValue)), minItems: 0),
                "one-off notices to alerts: when a rollout completes (deployed) or is rolled back (rolledBack)"),
            FieldSchema("network", .string, "bridge (default), none, host or an existing Docker network's name"),
            FieldSchema("pull", .enumeration(PullPolicy.allCases.map(\.rawValue)), "default ifNotPresent"),
            FieldSchema("files", .list(.object(file), minItems: 0), "files put into each replica before it starts"),
            FieldSchema("volumes", .list(.object(volumeMount), minItems: 0), "volumes mounted into each replica"),
        ])

    static let taskShared: [FieldSchema] = [
        FieldSchema("image", .string, "container image"),
        FieldSchema("command", .list(.string, minItems: 1), "argv; ${LOGICAL_DATE} and friends are expanded"),
        FieldSchema("env", .map(.string), "environment variables"),
        FieldSchema("secretEnv", .map(.secretReference), "environment from secret references"),
        FieldSchema("retries", .integer(minimum: 0, maximum: 100), "default 0"),
        FieldSchema("retryDelay", .duration, "default 5m"),
        FieldSchema("retryBackoff", .enumeration(RetryBackoff.allCases.map(\.rawValue)), "default constant"),
        FieldSchema("maxRetryDelay", .duration, "cap for exponential backoff, default 1h"),
        FieldSchema("timeout", .duration, "per attempt; the whole process tree is killed"),
        FieldSchema("resources", .object(resources), "requests, also hard limits"),
        FieldSchema("network", .string, "bridge (default), none, host or an existing Docker network's name"),
        FieldSchema("pull", .enumeration(PullPolicy.allCases.map(\.rawValue)), "default ifNotPresent"),
        FieldSchema("files", .list(.object(file), minItems: 0), "files put into the container (merged by path)"),
        FieldSchema("volumes", .list(.object(volumeMount), minItems: 0), "volumes mounted (merged by mount)"),
    ]

    static let defaults = ObjectSchema(
        "defaults", taskShared + [FieldSchema("pool", .name, "the Pool whose slots a running task takes")])

    static let httpWait = ObjectSchema(
        "http",
        [
            FieldSchema("url", .string, required: true, "http:// or https:// URL, fetched with GET"),
            FieldSchema("expect", .integer(minimum: 100, maximum: 599), "the status that ends the wait, default 200"),
        ])

    static let wait = ObjectSchema(
        "wait", exactlyOne: [["file", "http", "command"]],
        [
            FieldSchema(
                "file", .string, "absolute path on the controller's host (its process nodes' host) that must exist"),
            FieldSchema("http", .object(httpWait), "a URL that must answer the expected status"),
            FieldSchema("command", .list(.string, minItems: 1), "argv that must exit 0 (each poll at most 10s)"),
            FieldSchema("interval", .duration, "between polls, default 30s"),
            FieldSchema("timeout", .duration, "the wait fails after this long (retries apply), default 1h"),
        ])

    static let task = ObjectSchema(
        "task",
        taskShared + [
            FieldSchema("after", .list(.name, minItems: 0), "upstream tasks of the same DAG"),
            FieldSchema("trigger", .enumeration(TriggerRule.allCases.map(\.rawValue)), "default allSuccess"),
            FieldSchema("pool", .name, "the Pool whose slots it takes while it runs"),
            FieldSchema(
                "wait", .object(wait),
                "a sensor instead of image/command: polled until it holds, holding no cpu or memory meanwhile"),
        ])

    static let param = ObjectSchema(
        "param",
        [
            FieldSchema("type", .enumeration(["string", "int", "bool", "enum"]), required: true, "the value's type"),
            FieldSchema(
                "default", .anyOf([.string, .integer(minimum: nil, maximum: nil), .boolean]),
                "used when a run does not set it; required for scheduled DAGs"),
            FieldSchema("values", .list(.string, minItems: 1), "the allowed values of an enum"),
            FieldSchema("description", .string, "shown beside the field on the trigger form"),
        ])

    static let scheduleAfter = ObjectSchema(
        "schedule",
        [
            FieldSchema(
                "after", .list(.name, minItems: 1), required: true,
                "DAGs whose succeeded runs for one data interval start a run of this DAG for it")
        ])

    static let pool = ObjectSchema(
        "Pool",
        common + [
            FieldSchema(
                "slots", .integer(minimum: 1, maximum: 100_000), required: true,
                "tasks of the pool running at once, across DAGs")
        ])

    static let dag = ObjectSchema(
        "DAG",
        common + [
            FieldSchema(
                "schedule", .anyOf([.cron, .object(scheduleAfter)]),
                "cron expression, or {after: [DAG, ...]}; omit for manual-only DAGs"),
            FieldSchema("timezone", .timezone, "IANA zone of the schedule, default UTC"),
            FieldSchema("start", .timestamp, "RFC 3339; no run for a tick before it"),
            FieldSchema("catchup", .anyOf([.boolean, .integer(minimum: 0, maximum: nil)]), "false, true or N"),
            FieldSchema("maxActiveRuns", .integer(minimum: 1, maximum: nil), "default 1"),
            FieldSchema("paused", .boolean, "default false"),
            FieldSchema("defaults", .object(defaults), "merged into every task"),
            FieldSchema("tasks", .map(.object(task)), required: true, "tasks by name"),
            FieldSchema(
                "alerts", .list(.name, minItems: 0), "notifiers told once per failed run, late run or long queue"),
            FieldSchema("deadline", .duration, "a scheduled run must have succeeded this long after its logical date"),
            FieldSchema(
                "queuedAlertAfter", .duration, "a task waiting for room this long opens an incident, default 1h"),
            FieldSchema("volumes", .list(.object(runVolume), minItems: 0), "volumes that live for one run"),
            FieldSchema("params", .map(.object(param)), "what a run takes: tasks see ${PARAM_<NAME>}"),
        ])

    static let runVolume = ObjectSchema(
        "volume",
        [
            FieldSchema("name", .name, required: true, "what tasks mount it as (volumes: [{name, mount}])"),
            FieldSchema(
                "scope", .enumeration(["run"]), required: true,
                "run: one per run, on the node of its first task, removed when the run succeeds"),
        ])

    static let logCount = ObjectSchema(
        "count",
        [
            FieldSchema("pattern", .string, required: true, "regular expression the counted lines match"),
            FieldSchema("over", .duration, "the window, e.g. 5m (a task: its whole latest run when omitted)"),
            FieldSchema("above", .integer(minimum: 0, maximum: nil), "fails when more lines than this match"),
            FieldSchema("below", .integer(minimum: 1, maximum: nil), "fails when fewer lines than this match"),
        ])

    static let logsProbe = ObjectSchema(
        "logs", exactlyOne: [["match", "absent", "count"]],
        [
            FieldSchema("match", .string, "regular expression that must appear within the window"),
            FieldSchema("absent", .string, "regular expression that must not appear within the window"),
            FieldSchema("count", .object(logCount), "bounds on how many lines match within a window"),
            FieldSchema(
                "within", .duration, "the window of match and absent (a task: its whole latest run when omitted)"),
        ])

    static let httpProbe = ObjectSchema(
        "http",
        [
            FieldSchema("url", .string, required: true, "http:// or https:// URL"),
            FieldSchema("expect", .integer(minimum: 100, maximum: 599), "expected status, default 200"),
            FieldSchema("bodyMatch", .string, "regular expression the body must match"),
        ])

    static let tcpProbe = ObjectSchema(
        "tcp",
        [
            FieldSchema("host", .string, required: true, "host name or address"),
            FieldSchema("port", .integer(minimum: 1, maximum: 65535), required: true, "TCP port"),
        ])

    static let check = ObjectSchema(
        "Check", exactlyOne: [["logs", "http", "tcp", "command"]],
        common + [
            FieldSchema("app", .name, "the App this check is about (logs: its replicas' output)"),
            FieldSchema("task", .string, "DAG/TASK: a logs check over the task's output in its latest run"),
            FieldSchema(
                "severity", .enumeration(Severity.allCases.map(\.rawValue)),
                "of a failure; default: a command's exit 1 warning, 2 critical; other checks critical"),
            FieldSchema("logs", .object(logsProbe), "log pattern check"),
            FieldSchema("http", .object(httpProbe), "HTTP check"),
            FieldSchema("tcp", .object(tcpProbe), "TCP connect check"),
            FieldSchema("command", .list(.string, minItems: 1), "Nagios plugin argv: exit 0 ok, 1 warning, 2 critical"),
            FieldSchema("interval", .duration, "default 1m"),
            FieldSchema("timeout", .duration, "default 10s"),
            FieldSchema("failAfter", .integer(minimum: 1, maximum: nil), "consecutive failures to fail, default 3"),
            FieldSchema("passAfter", .integer(minimum: 1, maximum: nil), "consecutive passes to pass, default 1"),
            FieldSchema("alerts", .list(.name, minItems: 0), "notifiers"),
        ])

    static let smtp = ObjectSchema(
        "smtp",
        [
            FieldSchema("host", .string, required: true, "SMTP server"),
            FieldSchema("port", .integer(minimum: 1, maximum: 65535), "default 587"),
            FieldSchema("starttls", .boolean, "default true"),
            FieldSchema("username", .string, "login name"),
            FieldSchema("password", .secretReference, "env:NAME or file:/path"),
        ])

    static let email = ObjectSchema(
        "email",
        [
            FieldSchema("to", .list(.string, minItems: 1), required: true, "recipients"),
            FieldSchema("from", .string, required: true, "sender address"),
            FieldSchema("smtp", .object(smtp), required: true, "SMTP server"),
        ])

    static let webhook = ObjectSchema(
        "webhook",
        [
            FieldSchema("url", .anyOf([.string, .secretReference]), required: true, "http(s) URL or secret reference"),
            FieldSchema("format", .enumeration(WebhookFormat.allCases.map(\.rawValue)), "default json"),
        ])

    static let notifier = ObjectSchema(
        "Notifier", exactlyOne: [["email", "webhook"]],
        common + [
            FieldSchema("email", .object(email), "send mail through SMTP"),
            FieldSchema("webhook", .object(webhook), "POST to a URL"),
            FieldSchema("repeatInterval", .duration, "re-notify while still failing, default 4h"),
            FieldSchema("sendResolved", .boolean, "send a resolved notice, default true"),
            FieldSchema(
                "minSeverity", .enumeration(Severity.allCases.map(\.rawValue)),
                "incidents below this are not sent here, default warning"),
            FieldSchema("groupWait", .duration, "notices due within this of the first go as one message, default 10s"),
        ])

    static let silenceMatcher = ObjectSchema(
        "matcher",
        [
            FieldSchema("incident", .string, required: true, "incident key glob, e.g. check/db-* or dag/*"),
            FieldSchema(
                "severity", .enumeration(Severity.allCases.map(\.rawValue)), "only incidents of this severity"),
        ])

    static let silence = ObjectSchema(
        "Silence",
        common + [
            FieldSchema("matchers", .list(.object(silenceMatcher), minItems: 1), required: true, "what it mutes"),
            FieldSchema("from", .timestamp, "RFC 3339: a fixed window opens"),
            FieldSchema("until", .timestamp, "RFC 3339: a fixed window closes"),
            FieldSchema("cron", .cron, "cron expression: a recurring window opens at each tick"),
            FieldSchema("duration", .duration, "how long each recurring window lasts"),
            FieldSchema("timezone", .timezone, "IANA zone of the schedule, default UTC"),
            FieldSchema("comment", .string, "why (shown beside what it mutes)"),
        ])

    static let registry = ObjectSchema(
        "Registry",
        common + [
            FieldSchema(
                "server", .string, required: true, "registry host[:port] as in image names, e.g. registry.local:5000"),
            FieldSchema("username", .string, required: true, "login name"),
            FieldSchema("password", .secretReference, required: true, "env:NAME or file:/path; never stored"),
            FieldSchema("ca", .string, "PEM file on the controller host: the CA of the registry's certificate"),
        ])

    static func document(_ kind: Kind) -> ObjectSchema {
        switch kind {
        case .node: node
        case .app: app
        case .dag: dag
        case .check: check
        case .notifier: notifier
        case .registry: registry
        case .volume: volume
        case .silence: silence
        case .pool: pool
        }
    }
}
