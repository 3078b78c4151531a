import Crypto
import Foundation
import ReconcileStore
import Synchronization

/// Browser sessions of the web UI, signed with a key derived from the API token (nothing to store;
/// a new token ends every session): the cookie is `nonce.expiry.mac`, and each form carries a CSRF
/// token that is a MAC of the session's nonce, so only a page rendered for this session can post.
/// Logging out revokes the nonce until it would have expired; with a store, the revocation is
/// written there and read back at start, so it survives a restart.
public final class WebSessions: Sendable {
    public static let cookieName = "reconcile_session"
    public static let lifetime: TimeInterval = 12 * 3600

    private let token: String?
    private let key: SymmetricKey?
    private let revoked: Mutex<[String: Date]>
    private let store: Store?

    /// - Parameters:
    ///   - apiToken: the controller's `--api-token`; without one nobody can log in.
    ///   - store: where logouts are kept across restarts.
    public init(apiToken: String?, store: Store? = nil, now: Date = Date()) {
        token = apiToken.flatMap { $0.isEmpty ? nil : $0 }
        key = token.map { SymmetricKey(data: SHA256.hash(data: Array("reconcile web session|\($0)".utf8))) }
        self.store = store
        revoked = Mutex((try? store?.revokedSessions(now: now)) ?? [:])
    }

    public var enabled: Bool { key != nil }

    /// The cookie value for a new session when `given` is the API token; nil otherwise.
    public func login(token given: String, now: Date) -> String? {
        guard let token, let key, Self.equal(Array(given.utf8), Array(token.utf8)) else { return nil }
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let expiry = Int(now.addingTimeInterval(Self.lifetime).timeIntervalSince1970)
        return "\(nonce).\(expiry).\(Self.mac("session|\(nonce)|\(expiry)", key))"
    }

    /// The session's nonce when the cookie is one of ours, unexpired and not logged out.
    public func verify(cookie: String?, now: Date) -> String? {
        guard let key, let cookie else { return nil }
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let expiry = Int(parts[1]), Double(expiry) > now.timeIntervalSince1970,
            Self.equal(Array(parts[2].utf8), Array(Self.mac("session|\(parts[0])|\(expiry)", key).utf8))
        else { return nil }
        let nonce = parts[0]
        return revoked.withLock { $0[nonce] == nil } ? nonce : nil
    }

    /// The CSRF token the session's forms carry.
    public func csrfToken(session nonce: String) -> String {
        guard let key else { return "" }
        return Self.mac("csrf|\(nonce)", key)
    }

    public func verifyCSRF(_ given: String?, session nonce: String) -> Bool {
        guard let given, key != nil else { return false }
        return Self.equal(Array(given.utf8), Array(csrfToken(session: nonce).utf8))
    }

    /// Revokes the session; throws when the revocation could not be stored (the session then
    /// stays revoked until this process ends).
    public func logout(session nonce: String, now: Date) throws {
        let until = now.addingTimeInterval(Self.lifetime)
        revoked.withLock { revoked in
            revoked = revoked.filter { $0.value > now }
            revoked[nonce] = until
        }
        try store?.revokeSession(nonce, until: until, now: now)
    }

    static func mac(_ text: String, _ key: SymmetricKey) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// Byte strings compared in constant time for equal lengths (tokens, MACs, signatures).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
