/// A parameter a DAG's runs take (`params:`): typed, with an optional default. A manual run may set
/// it (`reconcile dags trigger DAG --param name=value`); a scheduled or cross-DAG run uses the default.
/// Tasks see it as `${PARAM_<NAME>}` and in the environment as `PARAM_<NAME>`.
public struct DAGParam: Sendable, Hashable {
    public enum ParamType: Sendable, Hashable {
        case string
        case int
        case bool
        case enumeration([String])

        public var name: String {
            switch self {
            case .string: "string"
            case .int: "int"
            case .bool: "bool"
            case .enumeration: "enum"
            }
        }
    }

    public var name: String
    public var type: ParamType
    /// Canonical text of the default; nil: a value must be given at every run (so the DAG cannot be scheduled).
    public var defaultValue: String?
    public var description: String?

    public init(name: String, type: ParamType, defaultValue: String? = nil, description: String? = nil) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.description = description
    }

    /// The variable and environment name: `PARAM_` and the name in upper case.
    public var variable: String { Self.variable(name) }

    public static func variable(_ name: String) -> String { "PARAM_" + name.uppercased() }

    /// A param name: a letter, then letters, digits or `_` (it becomes an environment variable), at most 64.
    public static func validateName(_ name: String) throws(ValueError) {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64,
            first.isASCIILetter,
            name.unicodeScalars.allSatisfy({ $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" })
        else {
            throw ValueError(
                "invalid param name \"\(name)\": a letter, then letters, digits or _ (at most 64), as it becomes PARAM_\(name.uppercased())"
            )
        }
    }

    /// The value's canonical text (ints without leading zeros, bools `true`/`false`), or why it is refused.
    public func canonical(_ text: String) throws(ValueError) -> String {
        switch type {
        case .string:
            guard text.utf8.count <= Self.maxValueBytes else {
                throw ValueError("param \(name): a value may hold at most \(Self.maxValueBytes) bytes")
            }
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) else {
                throw ValueError("param \(name): a value may not hold control characters (newlines)")
            }
            return text
        case .int:
            guard let value = Int(text.trimmingSpaces()) else {
                throw ValueError("param \(name) is an int, \"\(text)\" is not a whole number")
            }
            return String(value)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "1": return "true"
            case "false", "no", "0": return "false"
            default: throw ValueError("param \(name) is a bool: true or false, not \"\(text)\"")
            }
        case .enumeration(let values):
            guard values.contains(text) else {
                throw ValueError("param \(name) is one of \(values.joined(separator: ", ")), not \"\(text)\"")
            }
            return text
        }
    }

    /// Longest value a string param takes.
    public static let maxValueBytes = 4096
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}

extension DAGSpec {
    /// The values a run gets: each given value checked against its param, defaults for the rest.
    /// Refused: an unknown name (with the declared ones), a bad value (with the reason), a param
    /// without a default that was not given.
    public func resolveParams(_ given: [String: String]) throws(ValueError) -> [String: String] {
        var values: [String: String] = [:]
        for (name, text) in given.sorted(by: { $0.key < $1.key }) {
            guard let param = params.first(where: { $0.name == name }) else {
                let known = params.map(\.name)
                throw ValueError(
                    "dag \(self.name) has no param \"\(name)\"; "
                        + (known.isEmpty ? "it declares none" : "its params: \(known.joined(separator: ", "))"))
            }
            values[name] = try param.canonical(text)
        }
        for param in params where values[param.name] == nil {
            guard let value = param.defaultValue else {
                throw ValueError(
                    "dag \(name): param \(param.name) has no default; give it with --param \(param.name)=VALUE")
            }
            values[param.name] = value
        }
        return values
    }
}
