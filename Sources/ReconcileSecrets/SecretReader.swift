import Foundation
import ReconcileModel

/// Resolves secret references on this host at use time. The values are never logged or stored.
public enum SecretReader {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var reference: SecretReference
        public var reason: String
        public var description: String { "cannot read secret \(reference): \(reason)" }
    }

    /// The secret's value; a trailing newline of a file is dropped.
    public static func read(
        _ reference: SecretReference, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Failure) -> String {
        switch reference {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw Failure(reference: reference, reason: "environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(reference: reference, reason: "file \(path) cannot be read")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw Failure(reference: reference, reason: "file \(path) is empty; write the secret into it")
            }
            return text
        }
    }

    /// A secret file's bytes as they are (a key or a certificate keeps its last newline; binary
    /// secrets are not decoded); an environment variable's value as UTF-8.
    public static func bytes(
        _ reference: SecretReference, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Failure) -> Data {
        switch reference {
        case .environment:
            return Data(try read(reference, environment: environment).utf8)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(reference: reference, reason: "file \(path) cannot be read")
            }
            guard !data.isEmpty else {
                throw Failure(reference: reference, reason: "file \(path) is empty; write the secret into it")
            }
            return data
        }
    }
}
