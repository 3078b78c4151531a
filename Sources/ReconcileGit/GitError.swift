import CLibGit2
import Foundation

/// A failed libgit2 call: libgit2's error class, code and message, and what was being done.
///
/// Messages never contain credentials: URLs are shown without their user-info part.
public struct GitError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The reference (branch, tag, commit id) does not exist; `branches` lists what exists.
        case refNotFound(ref: String, branches: [String])
        /// The remote could not be reached or refused the connection.
        case unreachable
        /// The remote rejected the credentials (or none were configured).
        case authentication
        /// The commit's signature is missing or does not verify.
        case signature
        /// The path given with `--path` is not a folder at this commit.
        case pathNotFound
        /// Any other libgit2 failure.
        case other
    }

    public var kind: Kind
    /// What was being done, e.g. "fetch from git://127.0.0.1:9418/repo".
    public var operation: String
    /// libgit2's error class (`git_error_t`) and return code, when the error came from libgit2.
    public var errorClass: Int32
    public var code: Int32
    public var message: String

    public init(_ kind: Kind, operation: String, message: String, errorClass: Int32 = 0, code: Int32 = 0) {
        self.kind = kind
        self.operation = operation
        self.message = message
        self.errorClass = errorClass
        self.code = code
    }

    /// Reads `git_error_last()`; call it right after the failing libgit2 call, before anything else.
    static func last(code: Int32, operation: String, redacting secrets: [String] = []) -> GitError {
        var message = "libgit2 error \(code)"
        var errorClass: Int32 = 0
        if let error = git_error_last() {
            errorClass = error.pointee.klass
            if let text = error.pointee.message { message = String(cString: text) }
        }
        message = Redaction.clean(message, secrets: secrets)
        let kind: Kind
        switch (code, UInt32(bitPattern: errorClass)) {
        case (GIT_EAUTH.rawValue, _): kind = .authentication
        case (_, GIT_ERROR_NET.rawValue), (_, GIT_ERROR_OS.rawValue), (_, GIT_ERROR_SSH.rawValue),
            (_, GIT_ERROR_HTTP.rawValue):
            kind =
                message.localizedLowercase.contains("auth") || message.contains("401") ? .authentication : .unreachable
        default: kind = .other
        }
        return GitError(kind, operation: operation, message: message, errorClass: errorClass, code: code)
    }

    public var description: String {
        switch kind {
        case .refNotFound(let ref, let branches):
            let known =
                branches.isEmpty ? "the repository has no branches" : "branches: \(branches.joined(separator: ", "))"
            return "\(operation): ref \"\(ref)\" not found; \(known)"
        default:
            return "\(operation): \(message)"
        }
    }
}

/// Removes credentials from text shown to people: user-info in URLs and any known secret value.
enum Redaction {
    static func clean(_ text: String, secrets: [String] = []) -> String {
        var result = removeUserInfo(text)
        for secret in secrets where !secret.isEmpty {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        return result
    }

    /// `https://user:token@host/x` -> `https://host/x`, anywhere in the text.
    static func removeUserInfo(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd =
                rest.firstIndex(where: { $0 == "/" || $0 == " " || $0 == "'" || $0 == "\"" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
                rest = rest[rest.index(after: at)...]
            }
        }
        return result + rest
    }
}
