import ReconcileModel
import Yams

/// Collects the diagnostics of one file while its documents are decoded.
final class DecodingContext {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func error(_ message: String, at node: Node) {
        diagnostics.append(Diagnostic(at: location(of: node), message))
    }

    func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(at: location, message))
    }

    /// Reports a value error, pointing inside the scalar when the error knows where.
    func error(_ problem: ValueError, at node: Node) {
        var location = location(of: node)
        if let offset = problem.offset, case .scalar(let scalar) = node, !scalar.string.contains("\n") {
            switch scalar.style {
            case .plain: location.column += offset
            case .singleQuoted, .doubleQuoted: location.column += offset + 1
            default: break
            }
        }
        diagnostics.append(Diagnostic(at: location, problem.message))
    }
}

extension Node {
    /// How a node is described in "expected X, found Y" messages.
    var shapeDescription: String {
        switch self {
        case .scalar(let scalar): scalar.string.isEmpty ? "an empty value" : "the value \"\(scalar.string.prefix(40))\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// A plain `~`, `null` or empty scalar: treated as if the key were absent.
    var isNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain else { return false }
        switch scalar.string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }
}
