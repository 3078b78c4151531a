import CLibGit2
import Foundation
import ReconcileModel

/// What the libgit2 credential callback needs, passed through its `payload` pointer.
final class CredentialContext {
    let credentials: GitCredentials
    let environment: [String: String]
    let remote: String
    var attempts = 0
    /// Why credentials could not be provided (a secret that cannot be read), for the final error.
    var problem: String?

    init(credentials: GitCredentials, environment: [String: String], remote: String) {
        self.credentials = credentials
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
        if allowed & GIT_CREDENTIAL_USERNAME.rawValue != 0, let user {
            return git_credential_username_new(out, user)
        }
        problem =
            "\(remote) asks for credentials and none are configured (--git-username/--git-password or --git-ssh-key)"
        return GIT_EAUTH.rawValue
    }
}

/// The C callback: finds the context in `payload` and asks it.
let credentialCallback: git_credential_acquire_cb = { out, _, usernameFromURL, allowed, payload in
    guard let payload else { return GIT_EAUTH.rawValue }
    let context = Unmanaged<CredentialContext>.fromOpaque(payload).takeUnretainedValue()
    return context.provide(out, usernameFromURL: usernameFromURL.map { String(cString: $0) }, allowed: allowed)
}
