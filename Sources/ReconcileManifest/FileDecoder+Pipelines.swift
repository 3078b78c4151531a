import Foundation
import ReconcileModel
import Yams

extension FileDecoder {
    /// `params:` of a DAG: each `{type, default, values, description}`, the default checked against
    /// its type. A DAG with a schedule runs without anyone to give values: every param needs a default.
    func decodeParams(_ reader: MappingReader, label: String, scheduled: Bool) -> [DAGParam] {
        guard let node = reader.value("params") else { return [] }
        guard case .mapping(let mapping) = node else {
            context.error(
                "params must be a mapping of param names to {type, default}, found \(node.shapeDescription)", at: node)
            return []
        }
        var params: [DAGParam] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                context.error("param names must be strings, found \(keyNode.shapeDescription)", at: keyNode)
                continue
            }
            let name = keyScalar.string
            do {
                try DAGParam.validateName(name)
            } catch {
                context.error(error, at: keyNode)
                continue
            }
            if params.contains(where: { $0.variable == DAGParam.variable(name) }) {
                context.error(
                    "param \(name) of \(label) has the same variable PARAM_\(name.uppercased()) as another param",
                    at: keyNode)
                continue
            }
            guard let item = MappingReader(valueNode, schema: Schemas.param, context: context) else { continue }
            var type: DAGParam.ParamType?
            let typeName = item.string("type")
            switch typeName {
            case "string": type = .string
            case "int": type = .int
            case "bool": type = .bool
            case "enum":
                if let values = item.stringList("values"), !values.isEmpty {
                    if Set(values).count != values.count, let node = item.value("values") {
                        context.error("values of param \(name) repeat a value", at: node)
                    }
                    type = .enumeration(values)
                } else {
                    context.error("param \(name) is an enum: list its values (values: [a, b])", at: item.node)
                }
            case let other?:
                if let node = item.value("type") {
                    let hint =
                        Suggestion.closest(to: other, among: ["string", "int", "bool", "enum"]).map {
                            " (did you mean \"\($0)\"?)"
                        } ?? ""
                    context.error("\"\(other)\" is not a param type\(hint); use string, int, bool or enum", at: node)
                }
            case nil: break
            }
            if typeName != "enum", let node = item.value("values") {
                context.error("values: is for params of type enum", at: node)
            }
            guard let type else { continue }
            var param = DAGParam(name: name, type: type, description: item.string("description"))
            if let defaultNode = item.value("default") {
                if case .scalar(let scalar) = defaultNode {
                    do {
                        param.defaultValue = try param.canonical(scalar.string)
                    } catch {
                        context.error("bad default: \(error.message)", at: defaultNode)
                    }
                } else {
                    context.error(
                        "default of param \(name) must be a value, found \(defaultNode.shapeDescription)",
                        at: defaultNode)
                }
            } else if scheduled {
                context.error(
                    "param \(name) of \(label) needs a default: scheduled runs are started by no one who could give a value",
                    at: keyNode)
            }
            params.append(param)
        }
        return params
    }

    /// `wait:` of a task: a sensor on a file, an HTTP answer or a command.
    func decodeWait(_ task: MappingReader, owner: String) -> SensorSpec? {
        guard let reader = task.object("wait") else { return nil }
        var condition: SensorSpec.Condition?
        if let path = reader.string("file"), let node = reader.value("file") {
            if path.hasPrefix("/") {
                condition = .file(path: path)
            } else {
                context.error("wait.file of \(owner) must be an absolute path, found \"\(path)\"", at: node)
            }
        } else if let http = reader.object("http") {
            if let url = http.string("url"), let node = http.value("url") {
                if let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                    parsed.host != nil
                {
                    condition = .http(url: url, expect: http.int("expect") ?? 200)
                } else {
                    context.error(
                        "wait.http.url of \(owner) must be an http:// or https:// URL, found \"\(url)\"", at: node)
                }
            }
        } else if let argv = reader.stringList("command") {
            condition = .command(argv)
        }
        let interval = positiveTimespan(reader, "interval") ?? .seconds(30)
        let timeout = positiveTimespan(reader, "timeout") ?? .hours(1)
        if interval.milliseconds < 1000, let node = reader.value("interval") {
            context.error("wait.interval of \(owner) must be at least 1s", at: node)
        }
        guard let condition else { return nil }
        return SensorSpec(condition: condition, interval: interval, timeout: timeout)
    }

    /// `${NAME}` in command and env may name the task variables, `PARAM_<NAME>` of a declared param,
    /// and `OUTPUT_<TASK>_<KEY>` of a task upstream of the one it is written in (any task, in defaults).
    func checkExpansions(_ items: [(task: String?, nodes: [Node])], tasks: [TaskSpec], params: [DAGParam]) {
        let paramNames = Set(params.map(\.variable))
        let dag = DAGSpec(name: "", tasks: tasks)
        for (task, nodes) in items {
            // Walked only for a task that names an output (a long chain would otherwise walk every
            // task's whole upstream).
            var walked: (sources: [String], prefixes: [String])?
            func upstreamPrefixes() -> (sources: [String], prefixes: [String]) {
                if let walked { return walked }
                let sources = task.map { dag.upstream(of: $0).sorted() } ?? tasks.map(\.name)
                let result = (sources, sources.map { TaskSpec.outputVariable(task: $0, key: "") })
                walked = result
                return result
            }
            for node in nodes {
                guard case .scalar(let scalar) = node, scalar.string.contains("${") else { continue }
                for variable in Expansion.variables(in: scalar.string) {
                    if TaskSpec.environmentVariables.contains(variable) || paramNames.contains(variable) { continue }
                    if variable.hasPrefix("OUTPUT_") {
                        let (sources, prefixes) = upstreamPrefixes()
                        if prefixes.contains(where: { variable.hasPrefix($0) && variable.count > $0.count }) {
                            continue
                        }
                        let whose = task.map { "task \($0)" } ?? "the DAG's tasks"
                        context.error(
                            "${\(variable)} names no output of a task upstream of \(whose); use ${OUTPUT_<TASK>_<KEY>} with TASK one of "
                                + (sources.isEmpty
                                    ? "(none: it has no upstream task)" : sources.joined(separator: ", ")),
                            at: node)
                        continue
                    }
                    let known = TaskSpec.environmentVariables + params.map(\.variable)
                    context.error(
                        "unknown variable ${\(variable)}; a task can use "
                            + known.map { "${\($0)}" }.joined(separator: ", ") + " and ${OUTPUT_<TASK>_<KEY>}",
                        at: node)
                }
            }
        }
    }

    /// `kind: Pool`.
    func decodePool(_ reader: MappingReader, name: String?, nameLocation: SourceLocation) {
        guard let name, let slots = reader.int("slots") else { return }
        output.pools.append(
            .init(spec: PoolSpec(name: name, slots: slots), document: reader.location, name: nameLocation))
    }
}
