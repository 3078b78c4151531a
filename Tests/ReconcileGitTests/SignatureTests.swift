import Foundation
import ReconcileGit
import Testing

/// `--verify-signatures`: only commits signed by a trusted key are accepted.
@Suite struct SignatureTests {
    @Test func sshSignedCommitsVerifyAndOthersAreRefused() async throws {
        let fixture = try GitFixture("ssh-sign")
        let keys = fixture.root.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        for name in ["trusted", "stranger"] {
            try GitFixture.run([
                "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", keys.appendingPathComponent(name).path,
            ])
        }
        let publicKey = try String(contentsOf: keys.appendingPathComponent("trusted.pub"), encoding: .utf8)
        let allowed = keys.appendingPathComponent("allowed_signers")
        try "test@example.com \(publicKey)".write(to: allowed, atomically: true, encoding: .utf8)

        let origin = try fixture.repository()
        try origin.git("config", "gpg.format", "ssh")
        try origin.write("web.yaml", appYAML)
        func signedCommit(_ message: String, key: String) throws -> String {
            try origin.commit(message, extra: ["-S", "--gpg-sign=\(keys.appendingPathComponent(key + ".pub").path)"])
        }
        let trusted = try signedCommit("trusted", key: "trusted")
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state),
            verifier: SignatureVerifier(keyring: allowed.path))
        guard case .applied(let snapshot) = await source.poll() else { throw FixtureError("trusted commit refused") }
        #expect(snapshot.commit == trusted)

        try origin.write("api.yaml", appYAML.replacingOccurrences(of: "web", with: "api"))
        _ = try signedCommit("stranger", key: "stranger")
        guard case .failed(let error, let inForce) = await source.poll() else {
            throw FixtureError("stranger accepted")
        }
        #expect(error.kind == .signature)
        #expect(inForce?.commit == trusted)

        try origin.write("db.yaml", appYAML.replacingOccurrences(of: "web", with: "db"))
        try origin.commit("unsigned")
        guard case .failed(let unsigned, _) = await source.poll() else { throw FixtureError("unsigned accepted") }
        #expect(unsigned.description.contains("not signed"))
    }

    @Test func openPGPSignedCommitsVerifyAgainstAnExportedKeyring() async throws {
        let fixture = try GitFixture("gpg-sign")
        let home = fixture.root.appendingPathComponent("gnupg")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home.path)
        let environment = ["GNUPGHOME": home.path]
        defer { _ = try? GitFixture.run(["gpgconf", "--kill", "all"], environment: environment) }
        try GitFixture.run(
            [
                "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Test <test@example.com>", "ed25519", "sign",
                "never",
            ],
            environment: environment)
        let keyring = fixture.root.appendingPathComponent("trusted.gpg")
        try GitFixture.run(
            ["gpg", "--batch", "--output", keyring.path, "--export", "test@example.com"], environment: environment)

        let origin = try fixture.repository()
        try origin.write("web.yaml", appYAML)
        let signed = try origin.commit("signed", environment: environment, extra: ["-S"])
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state),
            verifier: SignatureVerifier(keyring: keyring.path))
        guard case .applied(let snapshot) = await source.poll() else { throw FixtureError("signed commit refused") }
        #expect(snapshot.commit == signed)

        // A keyring without that key refuses the same commit.
        let empty = fixture.root.appendingPathComponent("empty.gpg")
        try Data().write(to: empty)
        let strict = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state + "/strict"),
            verifier: SignatureVerifier(keyring: empty.path))
        guard case .failed(let error, _) = await strict.poll() else { throw FixtureError("unknown key accepted") }
        #expect(error.kind == .signature)
    }
}
