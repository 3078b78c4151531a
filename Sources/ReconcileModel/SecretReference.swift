/// Where a secret is read on the controller host at use time: `env:NAME` or `file:/absolute/path`.
///
/// The reference is what lives in git; the secret itself is never printed or stored.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible, Codable {
    case environment(String)
    case file(String)

    public init(parsing text: String) throws(ValueError) {
        if text.hasPrefix("env:") {
            let name = String(text.dropFirst(4))
            guard EnvironmentName.isValid(name) else {
                throw ValueError(
                    "secret reference \"\(text)\" needs an environment variable name after env:, e.g. env:SMTP_PASSWORD"
                )
            }
            self = .environment(name)
        } else if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else {
                throw ValueError(
                    "secret reference \"\(text)\" needs an absolute path after file:, e.g. file:/etc/reconcile/slack-url"
                )
            }
            self = .file(path)
        } else {
            throw ValueError(
                "a literal secret is not allowed here (secrets do not belong in git); write a reference: env:NAME or file:/path"
            )
        }
    }

    /// True for text that is meant as a reference (even when malformed), so a literal is told apart.
    public static func looksLikeReference(_ text: String) -> Bool {
        text.hasPrefix("env:") || text.hasPrefix("file:")
    }

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        }
    }
}

/// Environment variable names: a letter or `_`, then letters, digits and `_`.
public enum EnvironmentName {
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return isLetter(first) && name.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
