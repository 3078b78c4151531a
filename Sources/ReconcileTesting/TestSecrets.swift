import Foundation

/// Secrets for tests, as `file:` references: a test never changes its own process environment
/// (setenv reallocates `environ` while other tests' threads spawn programs reading it; a spawn then
/// fails with "Bad address" or passes garbage).
public enum TestSecrets {
    /// Writes `value` to a new file readable by this user only; returns its reference `file:/path`.
    public static func file(_ value: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("reconcile-secrets-\(getpid())")
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = folder.appendingPathComponent(UUID().uuidString).path
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(value.utf8), attributes: [.posixPermissions: 0o600])
        else { throw FixtureError("cannot write a secret file at \(path)") }
        return "file:" + path
    }
}
