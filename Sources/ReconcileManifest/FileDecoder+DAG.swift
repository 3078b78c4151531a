import Foundation
import ReconcileModel
import Yams

extension FileDecoder {
    func decodeDAG(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        let label = "dag \(name ?? reader.rawName)"
        let timezone = reader.parsed("timezone", expected: "a time zone") {
            (text: String) throws(ValueError) -> String in
            _ = try TimeZoneName.zone(named: text)
            return text
        }
        var schedule: CronSchedule?
        var upstreamDAGs: [String] = []
        if case .mapping? = reader.value("schedule") {
            if let after = MappingReader(reader.value("schedule")!, schema: Schemas.scheduleAfter, context: context) {
                for (dag, node) in after.nameList("after") ?? [] {
                    if dag == name {
                        context.error("dag \(dag) cannot run after itself", at: node)
                    } else if upstreamDAGs.contains(dag) {
                        context.error("dag \(dag) is listed twice in schedule.after", at: node)
                    } else {
                        upstreamDAGs.append(dag)
                        reference(.dag, dag, at: node, from: "schedule.after of \(label)")
                        output.dagEdges.append(
                            .init(dag: name ?? reader.rawName, upstream: dag, location: context.location(of: node)))
                    }
                }
            }
        } else {
            schedule = reader.parsed(
                "schedule", expected: "a cron expression or {after: [DAG, ...]}", CronSchedule.init(parsing:))
        }
        let params = decodeParams(reader, label: label, scheduled: reader.has("schedule"))
        let start = reader.parsed("start", expected: "an RFC 3339 time", Timestamp.parse)
        var catchup = DAGSpec.Catchup.latestOnly
        if let node = reader.value("catchup"), case .scalar(let scalar) = node {
            if scalar.style == .plain, let limit = Int(scalar.string) {
                if limit < 0 {
                    context.error("catchup must be true, false or a number of runs >= 0", at: node)
                } else {
                    catchup = limit == 0 ? .latestOnly : .missed(limit: limit)
                }
            } else if scalar.style == .plain,
                ["true", "True", "TRUE", "false", "False", "FALSE"].contains(scalar.string)
            {
                catchup = scalar.string.lowercased() == "true" ? .missed(limit: nil) : .latestOnly
            } else {
                context.error(
                    "catchup must be true, false or a number of runs, found \(node.shapeDescription)", at: node)
            }
        } else if let node = reader.value("catchup") {
            context.error("catchup must be true, false or a number, found \(node.shapeDescription)", at: node)
        }
        let maxActiveRuns = reader.int("maxActiveRuns") ?? 1
        let paused = reader.bool("paused") ?? false
        let alerts = reader.nameList("alerts") ?? []
        for (alert, node) in alerts { reference(.notifier, alert, at: node, from: "alerts of \(label)") }

        var runVolumes: [RunVolumeSpec] = []
        for item in reader.objectList("volumes") ?? [] {
            guard let volume = item.name("name"), let node = item.value("name") else { continue }
            if runVolumes.contains(where: { $0.name == volume }) {
                context.error("volume \(volume) is declared twice in \(label)", at: node)
            } else {
                runVolumes.append(RunVolumeSpec(name: volume))
            }
        }
        let runNames = Set(runVolumes.map(\.name))
        let defaultsReader = reader.object("defaults")
        let defaults = defaultsReader.map {
            TaskFields(reader: $0, decoder: self, base: nil, owner: "the defaults of \(label)", runVolumes: runNames)
        }
        var expansionNodes: [(task: String?, nodes: [Node])] = []
        if let defaultsReader { expansionNodes.append((nil, TaskFields.expansionNodes(defaultsReader))) }
        var tasks: [TaskSpec] = []
        var taskNodes: [String: Node] = [:]
        var afterNodes: [String: [(String, Node)]] = [:]
        if let tasksNode = reader.value("tasks") {
            if case .mapping(let mapping) = tasksNode {
                if mapping.count == 0 { context.error("a DAG needs at least one task", at: tasksNode) }
                for (keyNode, valueNode) in mapping {
                    guard case .scalar(let keyScalar) = keyNode else {
                        context.error("task names must be strings, found \(keyNode.shapeDescription)", at: keyNode)
                        continue
                    }
                    let taskName = keyScalar.string
                    do {
                        try ResourceName.validate(taskName)
                    } catch {
                        context.error(error, at: keyNode)
                        continue
                    }
                    guard let taskReader = MappingReader(valueNode, schema: Schemas.task, context: context) else {
                        continue
                    }
                    let fields = TaskFields(
                        reader: taskReader, decoder: self, base: defaults, owner: "task \(taskName) of \(label)",
                        runVolumes: runNames)
                    let after = taskReader.nameList("after") ?? []
                    afterNodes[taskName] = after
                    taskNodes[taskName] = keyNode
                    expansionNodes.append((taskName, TaskFields.expansionNodes(taskReader)))
                    let sensor = decodeWait(taskReader, owner: "task \(taskName) of \(label)")
                    let pool = taskReader.name("pool") ?? defaults?.pool
                    if let pool, let node = taskReader.value("pool") ?? defaultsReader?.value("pool") {
                        reference(.pool, pool, at: node, from: "task \(taskName) of \(label)")
                    }
                    let task = TaskSpec(
                        name: taskName, image: fields.image, command: fields.command, env: fields.env,
                        secretEnv: fields.secretEnv, after: after.map(\.0),
                        trigger: taskReader.enumeration("trigger", as: TriggerRule.self) ?? .allSuccess,
                        retries: fields.retries ?? 0, retryDelay: fields.retryDelay ?? .minutes(5),
                        retryBackoff: fields.retryBackoff ?? .constant,
                        maxRetryDelay: fields.maxRetryDelay ?? .hours(1),
                        timeout: fields.timeout, resources: fields.resources ?? .defaultRequest,
                        network: fields.network ?? .bridge, pull: fields.pull ?? .ifNotPresent,
                        files: Self.ordered(fields.files), volumes: Self.ordered(fields.volumes),
                        pool: sensor == nil ? pool : nil, sensor: sensor)
                    checkMountConflicts(
                        files: fields.files, volumes: fields.volumes, owner: "task \(taskName) of \(label)")
                    if sensor != nil || taskReader.has("wait") {
                        if let node = taskReader.value("image") ?? taskReader.value("command") {
                            context.error(
                                "task \"\(taskName)\" waits (wait:), so it runs no image or command; remove one of them",
                                at: node)
                        }
                        tasks.append(task)
                        continue
                    }
                    if task.image == nil && task.command == nil {
                        context.error(
                            "task \"\(taskName)\" needs an image or a command (here or in the DAG's defaults), or wait:",
                            at: keyNode)
                    }
                    output.workloads.append(
                        .init(
                            description: "task \(taskName) of \(label)", resources: task.resources,
                            resourcesLocation: fields.resourcesLocation ?? context.location(of: keyNode),
                            hasImage: task.image != nil, hasCommand: task.command != nil,
                            location: context.location(of: keyNode), require: [:]))
                    tasks.append(task)
                }
            } else {
                context.error(
                    "tasks must be a mapping of task names to tasks, found \(tasksNode.shapeDescription)", at: tasksNode
                )
            }
        }
        // after: names tasks of this DAG, and the graph has no cycle.
        let names = Set(tasks.map(\.name))
        var validEdges: [String: [String]] = [:]
        for task in tasks {
            for (upstream, node) in afterNodes[task.name] ?? [] {
                if upstream == task.name {
                    context.error("task \"\(task.name)\" lists itself in after:", at: node)
                } else if names.contains(upstream) {
                    validEdges[task.name, default: []].append(upstream)
                } else {
                    let hint =
                        Suggestion.closest(to: upstream, among: tasks.map(\.name)).map { " (did you mean \"\($0)\"?)" }
                        ?? ""
                    context.error("after: \"\(upstream)\" is not a task of \(label)\(hint)", at: node)
                }
            }
        }
        if let cycle = TaskGraph.firstCycle(order: tasks.map(\.name), upstream: validEdges),
            let node = taskNodes[cycle[0]]
        {
            context.error("tasks form a cycle: \(cycle.joined(separator: " -> "))", at: node)
        }
        if schedule == nil, let node = reader.value("deadline") {
            context.error(
                "deadline needs a cron schedule: it counts from each scheduled run's logical date; add schedule: or remove deadline:",
                at: node)
        }
        checkExpansions(expansionNodes, tasks: tasks, params: params)
        guard let name else { return }
        let dag = DAGSpec(
            name: name, schedule: schedule, timezone: timezone ?? "UTC", start: start, catchup: catchup,
            maxActiveRuns: maxActiveRuns, paused: paused, tasks: tasks, alerts: alerts.map(\.0), volumes: runVolumes,
            deadline: positiveTimespan(reader, "deadline"),
            queuedAlertAfter: positiveTimespan(reader, "queuedAlertAfter") ?? .hours(1), params: params,
            after: upstreamDAGs)
        output.dags.append(.init(spec: dag, document: reader.location, name: nameLocation))
    }
}

/// The fields a task shares with the DAG's `defaults`, each taken from the task, else from defaults.
struct TaskFields {
    var image: String?
    var command: [String]?
    var env: [String: String]
    var secretEnv: [String: SecretReference]
    var retries: Int?
    var retryDelay: Timespan?
    var retryBackoff: RetryBackoff?
    var maxRetryDelay: Timespan?
    var timeout: Timespan?
    var resources: Resources?
    var resourcesLocation: SourceLocation?
    var network: ContainerNetwork?
    var pull: PullPolicy?
    var pool: String?
    /// By path and by mount: a task's entry replaces the defaults' entry at the same place.
    var files: [String: FileDecoder.LocatedFile]
    var volumes: [String: FileDecoder.LocatedVolume]

    init(reader: MappingReader, decoder: FileDecoder, base: TaskFields?, owner: String, runVolumes: Set<String>) {
        image = reader.string("image") ?? base?.image
        command = reader.stringList("command") ?? base?.command
        // env and secretEnv merge key by key; the task's value wins.
        env = (base?.env ?? [:]).merging(reader.environment("env") ?? [:]) { $1 }
        secretEnv = (base?.secretEnv ?? [:]).merging(reader.secretEnvironment("secretEnv") ?? [:]) { $1 }
        retries = reader.int("retries") ?? base?.retries
        retryDelay = reader.timespan("retryDelay") ?? base?.retryDelay
        retryBackoff = reader.enumeration("retryBackoff", as: RetryBackoff.self) ?? base?.retryBackoff
        maxRetryDelay = reader.timespan("maxRetryDelay") ?? base?.maxRetryDelay
        timeout = reader.timespan("timeout") ?? base?.timeout
        network = decoder.network(reader) ?? base?.network
        pull = reader.enumeration("pull", as: PullPolicy.self) ?? base?.pull
        // A task's own pool: is read (and referenced) by decodeDAG.
        pool = reader.schema.title == Schemas.defaults.title ? reader.name("pool") : base?.pool
        files = (base?.files ?? [:]).merging(decoder.decodeFiles(reader, owner: owner) ?? [:]) { $1 }
        volumes = (base?.volumes ?? [:]).merging(
            decoder.decodeVolumes(reader, owner: owner, runVolumes: runVolumes) ?? [:]
        ) { $1 }
        if let timeout, timeout.milliseconds == 0, let node = reader.value("timeout") {
            decoder.context.error("timeout must be longer than 0s; omit it for no limit", at: node)
        }
        if reader.has("resources") {
            resources = decoder.resources(reader)
            resourcesLocation = reader.value("resources").map(decoder.context.location(of:))
        } else {
            resources = base?.resources
            resourcesLocation = base?.resourcesLocation
        }
    }

    /// The values of command and env, where `${NAME}` is expanded.
    static func expansionNodes(_ reader: MappingReader) -> [Node] {
        var nodes: [Node] =
            reader.value("command").flatMap { if case .sequence(let list) = $0 { Array(list) } else { nil } } ?? []
        if case .mapping(let env)? = reader.value("env") { nodes += env.map(\.value) }
        return nodes
    }
}

enum Expansion {
    /// The names inside `${...}` in a string, in order.
    static func variables(in text: String) -> [String] {
        var result: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            rest = rest[open.upperBound...]
            guard let close = rest.firstIndex(of: "}") else {
                result.append(String(rest))
                break
            }
            result.append(String(rest[..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return result
    }
}

/// Cycle search over `after:` edges.
enum TaskGraph {
    /// A cycle as a path that ends where it starts (`a -> b -> a`), or nil.
    static func firstCycle(order: [String], upstream: [String: [String]]) -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []
        func visit(_ task: String) -> [String]? {
            if marks[task] == .done { return nil }
            if marks[task] == .visiting, let start = path.firstIndex(of: task) {
                return Array(path[start...]) + [task]
            }
            marks[task] = .visiting
            path.append(task)
            for next in upstream[task] ?? [] {
                if let cycle = visit(next) { return cycle }
            }
            path.removeLast()
            marks[task] = .done
            return nil
        }
        for task in order {
            if let cycle = visit(task) {
                // Edges point downstream -> upstream; print the cycle in run order (upstream first).
                return cycle.reversed()
            }
        }
        return nil
    }
}

/// RFC 3339 instants such as `2026-01-01T00:00:00Z` or `2026-01-01T03:00:00-08:00`.
public enum Timestamp {
    public static func parse(_ text: String) throws(ValueError) -> Double {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        throw ValueError("invalid time \"\(text)\"; use RFC 3339 with a zone, e.g. 2026-01-01T00:00:00Z")
    }
}
