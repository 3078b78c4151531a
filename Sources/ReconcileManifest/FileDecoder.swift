import ReconcileModel
import Yams

/// Decodes every document of one manifest file.
final class FileDecoder {
    let context: DecodingContext
    var output = DecodedDocuments()

    init(path: String) { context = DecodingContext(file: path) }

    func decode(_ text: String) -> DecodedDocuments {
        do {
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            while let root = try parser.nextRoot() {
                decodeDocument(root)
            }
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let yamlContext) {
            // Yams points at the first occurrence; the one to delete is the next.
            let first = SourceLocation(file: context.file, line: yamlContext.mark.line, column: yamlContext.mark.column)
            let key = duplicates.first ?? ""
            let second = YAMLErrorText.nextOccurrence(of: key, after: first, in: text) ?? first
            context.error(
                "duplicate key \"\(key)\" in one mapping (first at \(first)); each key may appear once, delete one",
                at: second)
        } catch let error as YamlError {
            context.error(YAMLErrorText.message(error), at: YAMLErrorText.location(error, file: context.file))
        } catch {
            context.error("cannot parse YAML: \(error)", at: SourceLocation(file: context.file, line: 1, column: 1))
        }
        output.diagnostics = context.diagnostics
        return output
    }

    private func decodeDocument(_ root: Node) {
        if root.isNull { return }  // an empty document, e.g. after a trailing ---
        guard case .mapping(let mapping) = root else {
            context.error(
                "a manifest document must be a mapping with kind: and name:, found \(root.shapeDescription)", at: root)
            return
        }
        guard let kindNode = mapping["kind"], !kindNode.isNull else {
            context.error(
                "document has no \"kind\"; add kind: with one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))",
                at: root)
            return
        }
        guard case .scalar(let kindScalar) = kindNode, let kind = Kind(rawValue: kindScalar.string) else {
            let text = kindNode.string ?? ""
            let shown = kindNode.string.map { "\"\($0)\"" } ?? kindNode.shapeDescription
            let hint =
                Suggestion.closest(to: text, among: Kind.allCases.map(\.rawValue)).map {
                    " (did you mean \"\($0)\"?)"
                } ?? ""
            context.error(
                "unknown kind \(shown)\(hint); kind is one of "
                    + Kind.allCases.map(\.rawValue).joined(separator: ", "), at: kindNode)
            return
        }
        guard let reader = MappingReader(root, schema: Schemas.document(kind), context: context) else { return }
        let name = reader.name("name")
        let nameLocation = reader.value("name").map(context.location(of:)) ?? reader.location
        switch kind {
        case .node: decodeNode(reader, name: name, nameLocation: nameLocation)
        case .app: decodeApp(reader, name: name, nameLocation: nameLocation)
        case .dag: decodeDAG(reader, name: name, nameLocation: nameLocation)
        case .check: decodeCheck(reader, name: name, nameLocation: nameLocation)
        case .notifier: decodeNotifier(reader, name: name, nameLocation: nameLocation)
        case .registry: decodeRegistry(reader, name: name, nameLocation: nameLocation)
        case .volume: decodeVolume(reader, name: name, nameLocation: nameLocation)
        case .silence: decodeSilence(reader, name: name, nameLocation: nameLocation)
        case .pool: decodePool(reader, name: name, nameLocation: nameLocation)
        }
    }

    /// `network:` of an App or a task: bridge, none, host or a Docker network's name.
    func network(_ reader: MappingReader) -> ContainerNetwork? {
        guard let text = reader.string("network"), let node = reader.value("network") else { return nil }
        guard HostAddress.isNetworkName(text) else {
            context.error(
                "network \"\(text)\" is not a Docker network name; use bridge, none, host or the name of a network "
                    + "created with docker network create (letters, digits, _ . -)", at: node)
            return nil
        }
        return ContainerNetwork(text)
    }

    func reference(_ kind: Kind, _ name: String, at node: Node, from: String) {
        output.references.append(.init(kind: kind, name: name, location: context.location(of: node), from: from))
    }

    func resources(_ reader: MappingReader) -> Resources {
        guard let nested = reader.object("resources") else { return .defaultRequest }
        return Resources(
            cpu: nested.cpu("cpu") ?? Resources.defaultRequest.cpu,
            memory: nested.memory("memory") ?? Resources.defaultRequest.memory)
    }

    /// Checks a pattern the way the log and HTTP checks will compile it.
    /// A duration that must be longer than 0s, when given.
    func positiveTimespan(_ reader: MappingReader, _ key: String) -> Timespan? {
        guard let value = reader.timespan(key) else { return nil }
        if value.milliseconds == 0, let node = reader.value(key) {
            context.error("\(key) must be longer than 0s", at: node)
            return nil
        }
        return value
    }

    func checkPattern(_ reader: MappingReader, _ key: String) -> String? {
        guard let pattern = reader.string(key), let node = reader.value(key) else { return nil }
        if let problem = PatternSyntax.problem(in: pattern) {
            context.error(problem, at: node)
            return nil
        }
        return pattern
    }
}

/// Turns Yams' errors into one-line messages and positions.
enum YAMLErrorText {
    static func message(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            let during = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return "invalid YAML: \(problem)\(during)"
        case .reader(let problem, _, _, _):
            return "invalid YAML text: \(problem)"
        default:
            return "invalid YAML: \(error)"
        }
    }

    /// Where `key` appears again in the mapping whose key at `first` it repeats: a later line at
    /// the same indentation before the mapping ends (block style), or later on the same line (flow
    /// style). Nil when it cannot be told from the text.
    static func nextOccurrence(of key: String, after first: SourceLocation, in text: String) -> SourceLocation? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        guard first.line >= 1, first.line <= lines.count, first.column >= 1 else { return nil }
        let indent = first.column - 1
        func startsWithKey(_ rest: Substring) -> Bool {
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                if rest.dropFirst(candidate.count).drop(while: { $0 == " " }).hasPrefix(":") { return true }
            }
            return false
        }
        // Flow style: `{a: 1, a: 2}` on the first occurrence's line.
        let line = lines[first.line - 1]
        if line.count > indent {
            var rest = line.dropFirst(indent + key.count)
            while let comma = rest.firstIndex(where: { $0 == "," || $0 == "{" }) {
                let after = rest[rest.index(after: comma)...]
                let trimmed = after.drop(while: { $0 == " " })
                if startsWithKey(trimmed) {
                    let column = line.distance(from: line.startIndex, to: trimmed.startIndex) + 1
                    return SourceLocation(file: first.file, line: first.line, column: column)
                }
                rest = after
            }
        }
        // Block style: a later line at the same indentation, before one indented less.
        for number in first.line..<lines.count {
            let candidate = lines[number]
            let content = candidate.drop(while: { $0 == " " })
            if content.isEmpty || content.hasPrefix("#") { continue }
            let spaces = candidate.count - content.count
            if spaces < indent || content.hasPrefix("---") { return nil }
            if spaces == indent, startsWithKey(content) {
                return SourceLocation(file: first.file, line: number + 1, column: indent + 1)
            }
        }
        return nil
    }

    static func location(_ error: YamlError, file: String) -> SourceLocation {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return SourceLocation(file: file, line: mark.line, column: mark.column)
        case .reader(_, let offset, _, let yaml):
            guard let offset else { return SourceLocation(file: file, line: 1, column: 1) }
            var line = 1
            var column = 1
            for character in yaml.prefix(offset) {
                if character == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return SourceLocation(file: file, line: line, column: column)
        default:
            return SourceLocation(file: file, line: 1, column: 1)
        }
    }
}
