import CLibGit2
import Foundation
import ReconcileModel
import ReconcileSecrets

/// What the libgit2 credential callback needs, passed through its `payload` pointer.
final class CredentialContext {
    let credentials: GitCredentials
    let environment: [String: String]
    let remote: String
    let inlinePassword: String?
    var attempts = 0
    /// Why credentials could not be provided (a secret that cannot be read), for the final error.
    var problem: String?

    init(credentials: GitCredentials, environment: [String: String], remote: String, inlinePassword: String? = nil) {
        self.credentials = credentials
        self.inlinePassword = inlinePassword
        self.environment = environment
        self.remote = remote
    }

    /// Refines a libgit2 error with what the callback knows.
    func error(_ error: GitError) -> GitError {
        var refined = error
        if let problem {
            refined.kind = .authentication
            refined.message = problem
        } else if attempts > 1 {
            refined.kind = .authentication
            refined.message = "the remote rejected the credentials (\(error.message))"
        }
        return refined
    }

    func provide(
        _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?, usernameFromURL: String?, allowed: UInt32
    ) -> Int32 {
        attempts += 1
        if attempts > 1 {
            // libgit2 asks again after a rejection; stop instead of looping.
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "authentication failed")
            return GIT_EAUTH.rawValue
        }
        let user = credentials.username ?? usernameFromURL
        if allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0, let key = credentials.sshKey {
            var passphrase: String?
            if let reference = credentials.sshPassphrase {
                do {
                    passphrase = try SecretReader.read(reference, environment: environment)
                } catch {
                    problem = "\(error)"
                    return GIT_EAUTH.rawValue
                }
            }
            return git_credential_ssh_key_new(out, user ?? "git", credentials.sshPublicKey, key, passphrase)
        }
        if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let reference = credentials.password {
            do {
                let secret = try SecretReader.read(reference, environment: environment)
                return git_credential_userpass_plaintext_new(out, user ?? "git", secret)
            } catch {
                problem = "\(error)"
                return GIT_EAUTH.rawValue
            }
        }
        if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let inlinePassword {
            return git_credential_userpass_plaintext_new(out, user ?? "git", inlinePassword)
        }
        if allowed & GIT_CREDENTIAL_USERNAME.rawValue != 0, let user {
            return git_credential_username_new(out, user)
        }
        problem =
            "\(remote) asks for credentials and none are configured (--git-username/--git-password or --git-ssh-key)"
        return GIT_EAUTH.rawValue
    }
}

extension CredentialContext {
    /// Accepts an SSH host key listed for this host in `credentials.knownHosts`; leaves every other
    /// check (TLS certificates, or SSH without a configured file) to libgit2.
    func checkCertificate(_ certificate: UnsafeMutablePointer<git_cert>, host: String) -> Int32 {
        guard let file = credentials.knownHosts else { return GIT_PASSTHROUGH.rawValue }
        guard certificate.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else { return GIT_PASSTHROUGH.rawValue }
        let hostKey = UnsafeMutableRawPointer(certificate).assumingMemoryBound(to: git_cert_hostkey.self).pointee
        guard hostKey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostKey.hostkey else {
            problem = "the SSH server did not present its raw host key, so it cannot be checked against \(file)"
            return GIT_ECERTIFICATE.rawValue
        }
        let key = Data(bytes: raw, count: hostKey.hostkey_len).base64EncodedString()
        let name = sshPort == 22 ? host : "[\(host)]:\(sshPort)"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            problem = "known hosts file \(file) cannot be read"
            return GIT_ECERTIFICATE.rawValue
        }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, fields[0].split(separator: ",").contains(where: { $0 == name }) else { continue }
            if fields[2] == key { return 0 }
        }
        problem = "the SSH host key of \(name) is not listed in \(file); add it (ssh-keyscan -p \(sshPort) \(host))"
        return GIT_ECERTIFICATE.rawValue
    }

    /// The port of an `ssh://` remote (22 for scp-style remotes).
    var sshPort: Int {
        guard let url = URLComponents(string: remote), url.scheme == "ssh" else { return 22 }
        return url.port ?? 22
    }
}

/// The C callback for host keys and certificates.
let certificateCallback: git_transport_certificate_check_cb = { certificate, _, host, payload in
    guard let payload, let certificate, let host else { return GIT_PASSTHROUGH.rawValue }
    let context = Unmanaged<CredentialContext>.fromOpaque(payload).takeUnretainedValue()
    return context.checkCertificate(certificate, host: String(cString: host))
}

/// The C callback: finds the context in `payload` and asks it.
let credentialCallback: git_credential_acquire_cb = { out, _, usernameFromURL, allowed, payload in
    guard let payload else { return GIT_EAUTH.rawValue }
    let context = Unmanaged<CredentialContext>.fromOpaque(payload).takeUnretainedValue()
    return context.provide(out, usernameFromURL: usernameFromURL.map { String(cString: $0) }, allowed: allowed)
}
