import ReconcileModel
import ReconcileSecrets

/// How to authenticate to a git remote: HTTPS user and password/token, or an SSH key.
///
/// Values come from secret references (`env:NAME`, `file:/path`) and are read when a remote asks.
public struct GitCredentials: Sendable, Hashable {
    /// HTTPS user name (or the SSH user when the URL names none).
    public var username: String?
    /// HTTPS password or token.
    public var password: SecretReference?
    /// SSH private key file.
    public var sshKey: String?
    /// SSH public key file; libgit2 derives it from the private key when nil.
    public var sshPublicKey: String?
    /// Passphrase of the SSH key.
    public var sshPassphrase: SecretReference?
    /// An OpenSSH known_hosts file the SSH server's host key must be listed in; nil: libgit2's
    /// default, `~/.ssh/known_hosts`.
    public var knownHosts: String?

    public init(
        username: String? = nil, password: SecretReference? = nil, sshKey: String? = nil, sshPublicKey: String? = nil,
        sshPassphrase: SecretReference? = nil, knownHosts: String? = nil
    ) {
        self.username = username
        self.password = password
        self.sshKey = sshKey
        self.sshPublicKey = sshPublicKey
        self.sshPassphrase = sshPassphrase
        self.knownHosts = knownHosts
    }

    public static let none = GitCredentials()

    /// Secret values to scrub from any message, resolved best-effort.
    func secretValues(environment: [String: String]) -> [String] {
        [password, sshPassphrase].compactMap { reference in
            reference.flatMap { try? SecretReader.read($0, environment: environment) }
        }
    }
}
