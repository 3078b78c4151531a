import ArgumentParser
import ReconcileGit
import ReconcileModel

/// Where manifests come from when they are in git, and how to authenticate.
struct GitOptions: ParsableArguments {
    @Option(help: "Git repository: a local path, file://, git://, http(s)://, ssh:// or user@host:path.")
    var repo: String?

    @Option(help: "Branch, tag or (short) commit id to read.")
    var ref: String = "HEAD"

    @Option(name: .customLong("path"), help: "Folder inside the repository that holds the manifests.")
    var subpath: String = ""

    @Option(help: "State directory (holds the git mirror).")
    var state: String = ".reconcile"

    @Option(name: .customLong("git-username"), help: "User name for HTTPS (or SSH when the URL names none).")
    var username: String?

    @Option(
        name: .customLong("git-password"),
        help: "HTTPS password or token as a secret reference: env:NAME or file:/path.")
    var password: String?

    @Option(name: .customLong("git-ssh-key"), help: "SSH private key file.")
    var sshKey: String?

    @Option(name: .customLong("git-ssh-passphrase"), help: "SSH key passphrase as a secret reference.")
    var sshPassphrase: String?

    @Option(
        name: .customLong("git-known-hosts"),
        help: "OpenSSH known_hosts file for SSH remotes (default: ~/.ssh/known_hosts).")
    var knownHosts: String?

    @Option(
        name: .customLong("verify-signatures"),
        help: "Accept only commits signed by these keys: an exported OpenPGP keyring or an SSH allowed-signers file.")
    var keyring: String?

    func credentials() throws(ValueError) -> GitCredentials {
        var credentials = GitCredentials(username: username, sshKey: sshKey, knownHosts: knownHosts)
        if let password { credentials.password = try SecretReference(parsing: password) }
        if let sshPassphrase { credentials.sshPassphrase = try SecretReference(parsing: sshPassphrase) }
        return credentials
    }

    func manifestSource(repository: String) throws(ValueError) -> GitManifestSource {
        let source = GitSource(remote: repository, stateDirectory: state, credentials: try credentials())
        return GitManifestSource(
            source: source, ref: ref, path: subpath, verifier: keyring.map { SignatureVerifier(keyring: $0) })
    }
}
