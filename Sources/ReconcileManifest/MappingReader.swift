import ReconcileModel
import Yams

/// Reads one YAML mapping against its `ObjectSchema`: unknown keys (with a hint), missing required
/// keys and "exactly one of" groups are reported when the reader is made; typed getters report
/// wrong values at the value's own line and column and return nil, so decoding goes on and every
/// problem of a file is found in one pass.
struct MappingReader {
    let node: Node
    let schema: ObjectSchema
    let context: DecodingContext
    private var entries: [String: (key: Node, value: Node)] = [:]

    /// Returns nil (after reporting) when `node` is not a mapping.
    init?(_ node: Node, schema: ObjectSchema, context: DecodingContext) {
        self.node = node
        self.schema = schema
        self.context = context
        guard case .mapping(let mapping) = node else {
            context.error(
                "\(schema.title) must be a mapping of keys to values, found \(node.shapeDescription)", at: node)
            return nil
        }
        var merged: [(Node, Node)] = []
        for (key, value) in mapping {
            if case .scalar(let scalar) = key, scalar.string == "<<", scalar.style == .plain {
                // YAML merge keys: explicit keys win over merged ones.
                let sources: [Node] = if case .sequence(let list) = value { Array(list) } else { [value] }
                for source in sources {
                    guard case .mapping(let inner) = source else {
                        context.error("a merge key (<<) takes a mapping or a list of mappings", at: source)
                        continue
                    }
                    merged.append(contentsOf: inner.map { ($0.key, $0.value) })
                }
                continue
            }
            guard case .scalar(let scalar) = key else {
                context.error("keys must be plain strings, found \(key.shapeDescription)", at: key)
                continue
            }
            let name = scalar.string
            guard schema.field(name) != nil else {
                let hint = Suggestion.closest(to: name, among: schema.keys).map { " (did you mean \"\($0)\"?)" } ?? ""
                let known =
                    schema.keys.isEmpty ? "it takes no keys" : "known keys: \(schema.keys.joined(separator: ", "))"
                context.error("unknown key \"\(name)\" in \(schema.title)\(hint); \(known)", at: key)
                continue
            }
            entries[name] = (key, value)
        }
        for (key, value) in merged {
            guard case .scalar(let scalar) = key, schema.field(scalar.string) != nil else {
                context.error("merged key \(key.shapeDescription) is not a key of \(schema.title)", at: key)
                continue
            }
            if entries[scalar.string] == nil { entries[scalar.string] = (key, value) }
        }
        for field in schema.fields where field.required && (entries[field.key]?.value.isNull ?? true) {
            context.error("\(schema.title) is missing required key \"\(field.key)\" (\(field.summary))", at: node)
        }
        for group in schema.exactlyOne {
            for key in group {
                if let entry = entries[key], entry.value.isNull {
                    let example = key == "process" ? " (process: {})" : ""
                    context.error("\"\(key)\" has no value; give it one\(example) or remove it", at: entry.key)
                }
            }
            let present = group.filter { entries[$0].map { !$0.value.isNull } ?? false }
            if present.isEmpty && !group.contains(where: { entries[$0] != nil }) {
                context.error(
                    "\(schema.title) needs exactly one of \(group.map { "\"\($0)\"" }.joined(separator: ", "))",
                    at: node)
            } else if present.count > 1 {
                let later = present.map { ($0, entries[$0]!.key) }.sorted {
                    context.location(of: $0.1) < context.location(of: $1.1)
                }
                context.error(
                    "\"\(later[0].0)\" and \"\(later[1].0)\" cannot both be set in \(schema.title); keep exactly one of "
                        + group.joined(separator: ", "), at: later[1].1)
            }
        }
    }

    var location: SourceLocation { context.location(of: node) }

    /// The document's `name` as written, valid or not, for messages about it.
    var rawName: String { entries["name"]?.value.string ?? "?" }

    func has(_ key: String) -> Bool { value(key) != nil }

    /// The value node for `key`, or nil when absent or null.
    func value(_ key: String) -> Node? {
        assert(schema.field(key) != nil, "\(key) is not in the schema of \(schema.title)")
        guard let entry = entries[key], !entry.value.isNull else { return nil }
        return entry.value
    }

    func keyNode(_ key: String) -> Node? { entries[key]?.key }

    private func scalar(_ key: String, expected: String) -> (Node, Node.Scalar)? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node else {
            context.error("\"\(key)\" must be \(expected), found \(node.shapeDescription)", at: node)
            return nil
        }
        return (node, scalar)
    }

    func string(_ key: String) -> String? {
        scalar(key, expected: "a string")?.1.string
    }

    /// An integer within the schema's bounds for `key`.
    func int(_ key: String) -> Int? {
        guard let (node, scalar) = scalar(key, expected: "an integer") else { return nil }
        return ScalarValue.integer(node, scalar, field: key, bounds: bounds(of: key), context: context)
    }

    func bool(_ key: String) -> Bool? {
        guard let (node, scalar) = scalar(key, expected: "true or false") else { return nil }
        return ScalarValue.boolean(node, scalar, field: key, context: context)
    }

    func timespan(_ key: String) -> Timespan? { parsed(key, expected: "a duration", Timespan.init(parsing:)) }
    func cpu(_ key: String) -> CPUQuantity? { parsed(key, expected: "a cpu quantity", CPUQuantity.init(parsing:)) }
    func memory(_ key: String) -> MemoryQuantity? {
        parsed(key, expected: "a memory quantity", MemoryQuantity.init(parsing:))
    }

    func name(_ key: String) -> String? {
        parsed(key, expected: "a name") { (text: String) throws(ValueError) -> String in
            try ResourceName.validate(text)
            return text
        }
    }

    func secret(_ key: String) -> SecretReference? {
        parsed(key, expected: "a secret reference", SecretReference.init(parsing:))
    }

    /// Parses a scalar with `parse`, reporting its `ValueError` at the scalar.
    func parsed<T>(_ key: String, expected: String, _ parse: (String) throws(ValueError) -> T) -> T? {
        guard let (node, scalar) = scalar(key, expected: expected) else { return nil }
        do {
            return try parse(scalar.string)
        } catch {
            context.error(error, at: node)
            return nil
        }
    }

    /// One of the schema's enumerated words for `key`.
    func enumeration<T: RawRepresentable<String>>(_ key: String, as type: T.Type) -> T? {
        guard let (node, scalar) = scalar(key, expected: "a word") else { return nil }
        if let value = T(rawValue: scalar.string) { return value }
        guard case .enumeration(let words)? = schema.field(key)?.value else { return nil }
        let hint = Suggestion.closest(to: scalar.string, among: words).map { " (did you mean \"\($0)\"?)" } ?? ""
        context.error(
            "\"\(scalar.string)\" is not a valid \(key)\(hint); use one of: \(words.joined(separator: ", "))", at: node)
        return nil
    }

    func stringList(_ key: String) -> [String]? {
        guard let items = sequence(key) else { return nil }
        var result: [String] = []
        for item in items {
            guard case .scalar(let scalar) = item else {
                context.error("items of \"\(key)\" must be strings, found \(item.shapeDescription)", at: item)
                continue
            }
            result.append(scalar.string)
        }
        return result
    }

    /// A list of names, each checked as a DNS label; returns the names with their nodes.
    func nameList(_ key: String) -> [(String, Node)]? {
        guard let items = sequence(key) else { return nil }
        var result: [(String, Node)] = []
        for item in items {
            guard case .scalar(let scalar) = item else {
                context.error("items of \"\(key)\" must be names, found \(item.shapeDescription)", at: item)
                continue
            }
            do {
                try ResourceName.validate(scalar.string)
                result.append((scalar.string, item))
            } catch {
                context.error(error, at: item)
            }
        }
        return result
    }

    /// The items of a list, checking `minItems` from the schema.
    func sequence(_ key: String) -> [Node]? {
        guard let node = value(key) else { return nil }
        guard case .sequence(let list) = node else {
            context.error("\"\(key)\" must be a list, found \(node.shapeDescription)", at: node)
            return nil
        }
        if case .list(_, let minItems)? = schema.field(key)?.value, list.count < minItems {
            context.error("\"\(key)\" must not be empty", at: node)
            return nil
        }
        return Array(list)
    }

    /// A mapping of string keys to scalar values, as (key, value node) in document order.
    func scalarMap(_ key: String) -> [(String, Node, Node)]? {
        guard let node = value(key) else { return nil }
        guard case .mapping(let mapping) = node else {
            context.error("\"\(key)\" must be a mapping, found \(node.shapeDescription)", at: node)
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                context.error("keys of \"\(key)\" must be strings, found \(keyNode.shapeDescription)", at: keyNode)
                continue
            }
            guard case .scalar = valueNode else {
                context.error(
                    "values of \"\(key)\" must be strings, found \(valueNode.shapeDescription) for \"\(keyScalar.string)\"",
                    at: valueNode)
                continue
            }
            result.append((keyScalar.string, keyNode, valueNode))
        }
        return result
    }

    func stringMap(_ key: String) -> [String: String]? {
        guard let entries = scalarMap(key) else { return nil }
        var result: [String: String] = [:]
        for (name, _, value) in entries {
            if case .scalar(let scalar) = value { result[name] = scalar.string }
        }
        return result
    }

    /// The entries of an environment mapping whose names are valid variable names; others are reported.
    private func environmentEntries(_ key: String) -> [(name: String, value: String, node: Node)]? {
        guard let entries = scalarMap(key) else { return nil }
        return entries.compactMap { name, keyNode, value in
            guard EnvironmentName.isValid(name) else {
                context.error(
                    "\"\(name)\" is not a valid environment variable name; use letters, digits and _, not starting with a digit",
                    at: keyNode)
                return nil
            }
            guard case .scalar(let scalar) = value else { return nil }
            return (name, scalar.string, value)
        }
    }

    /// Environment variables: names checked, values as strings.
    func environment(_ key: String) -> [String: String]? {
        environmentEntries(key).map { entries in
            Dictionary(entries.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        }
    }

    /// `secretEnv`: names checked, every value a secret reference (a literal is an error).
    func secretEnvironment(_ key: String) -> [String: SecretReference]? {
        guard let entries = environmentEntries(key) else { return nil }
        var result: [String: SecretReference] = [:]
        for entry in entries {
            do {
                result[entry.name] = try SecretReference(parsing: entry.value)
            } catch {
                context.error("secretEnv \"\(entry.name)\": \(error.message)", at: entry.node)
            }
        }
        return result
    }

    /// A nested mapping read against the schema's object type for `key`.
    func object(_ key: String) -> MappingReader? {
        guard let node = value(key), case .object(let nested)? = schema.field(key)?.value else { return nil }
        return MappingReader(node, schema: nested, context: context)
    }

    /// A list of mappings read against the schema's item type for `key`.
    func objectList(_ key: String) -> [MappingReader]? {
        guard let items = sequence(key), case .list(.object(let nested), _)? = schema.field(key)?.value else {
            return nil
        }
        return items.compactMap { MappingReader($0, schema: nested, context: context) }
    }

    private func bounds(of key: String) -> (Int?, Int?) {
        switch schema.field(key)?.value {
        case .integer(let minimum, let maximum)?: (minimum, maximum)
        case .anyOf(let options)?:
            options.lazy.compactMap { option -> (Int?, Int?)? in
                if case .integer(let minimum, let maximum) = option { (minimum, maximum) } else { nil }
            }.first ?? (nil, nil)
        default: (nil, nil)
        }
    }
}

/// Typing of scalars: plain `true`/`false` are booleans and plain digits are integers; quoted text is
/// always a string. (The YAML resolver is switched off, so `no` stays the string "no".)
enum ScalarValue {
    static func integer(
        _ node: Node, _ scalar: Node.Scalar, field: String, bounds: (Int?, Int?), context: DecodingContext
    ) -> Int? {
        let text = scalar.string
        guard scalar.style == .plain, let value = Int(text) else {
            let quoted = scalar.style != .plain && Int(text) != nil ? " (remove the quotes)" : ""
            context.error("\"\(field)\" must be an integer, found \(node.shapeDescription)\(quoted)", at: node)
            return nil
        }
        if let minimum = bounds.0, value < minimum {
            context.error("\"\(field)\" must be at least \(minimum), found \(value)", at: node)
            return nil
        }
        if let maximum = bounds.1, value > maximum {
            context.error("\"\(field)\" must be at most \(maximum), found \(value)", at: node)
            return nil
        }
        return value
    }

    static func boolean(_ node: Node, _ scalar: Node.Scalar, field: String, context: DecodingContext) -> Bool? {
        if scalar.style == .plain {
            switch scalar.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        context.error("\"\(field)\" must be true or false, found \(node.shapeDescription)", at: node)
        return nil
    }
}
