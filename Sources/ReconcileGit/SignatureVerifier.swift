import Foundation
import ReconcileSpawn

/// Accepts only commits whose signature verifies against trusted keys (like Flux's `.spec.verify`).
///
/// OpenPGP signatures are checked with `gpgv --keyring KEYRING` (an exported public keyring);
/// SSH signatures with `ssh-keygen -Y verify` against KEYRING as an allowed-signers file.
public struct SignatureVerifier: Sendable {
    public let keyring: String

    public init(keyring: String) {
        self.keyring = URL(fileURLWithPath: keyring).standardizedFileURL.path
    }

    func verify(_ signed: (signature: Data, payload: Data)?, commit: String) throws(GitError) {
        let operation = "verify signature of \(commit.prefix(12))"
        guard let signed else {
            throw GitError(
                .signature, operation: operation, message: "the commit is not signed; only signed commits are accepted")
        }
        guard FileManager.default.isReadableFile(atPath: keyring) else {
            throw GitError(.signature, operation: operation, message: "keyring \(keyring) cannot be read")
        }
        let text = String(decoding: signed.signature.prefix(64), as: UTF8.self)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "reconcile-verify-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try signed.signature.write(to: folder.appendingPathComponent("signature"))
            try signed.payload.write(to: folder.appendingPathComponent("payload"))
        } catch {
            throw GitError(.signature, operation: operation, message: "cannot write temporary files: \(error)")
        }
        let signature = folder.appendingPathComponent("signature").path
        let payload = folder.appendingPathComponent("payload").path
        if text.contains("BEGIN PGP SIGNATURE") {
            let result = Self.run(["gpgv", "--keyring", keyring, signature, payload], input: nil)
            guard result.status == 0 else {
                throw GitError(
                    .signature, operation: operation,
                    message: "OpenPGP signature does not verify against \(keyring): \(result.output.lastLine)")
            }
        } else if text.contains("BEGIN SSH SIGNATURE") {
            let principals = Self.run(
                ["ssh-keygen", "-Y", "find-principals", "-s", signature, "-f", keyring], input: nil)
            guard principals.status == 0, let principal = principals.output.split(separator: "\n").first else {
                throw GitError(
                    .signature, operation: operation, message: "SSH signature is from a key not in \(keyring)")
            }
            let result = Self.run(
                ["ssh-keygen", "-Y", "verify", "-f", keyring, "-I", String(principal), "-n", "git", "-s", signature],
                input: signed.payload)
            guard result.status == 0 else {
                throw GitError(
                    .signature, operation: operation,
                    message: "SSH signature does not verify: \(result.output.lastLine)")
            }
        } else {
            throw GitError(
                .signature, operation: operation, message: "unsupported signature format (not OpenPGP or SSH)")
        }
    }

    /// Runs a verifier (argv, no shell) through `Spawn` (PATH and LANG only, HOME a fresh empty
    /// folder, so gpgv reads no one's configuration), returning its status and combined output.
    static func run(_ arguments: [String], input: Data?) -> (status: Int32, output: String) {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "reconcile-verify-home-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        try? FileManager.default.createDirectory(
            at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let finished = try Spawn.runBlocking(
                arguments, environment: Spawn.environment(declaring: ["HOME": home.path]),
                input: input.map { Array($0) }, timeout: 60)
            return (finished.status ?? 124, finished.output)
        } catch {
            return (127, error.description)
        }
    }
}

extension String {
    var lastLine: String {
        split(separator: "\n").last.map(String.init) ?? self
    }
}
