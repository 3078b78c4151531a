import Foundation
import ReconcileStore
import ReconcileWeb
import Testing

@Suite struct WebSessionsTests {
    @Test func aSessionNeedsTheTokenAndExpires() throws {
        let sessions = WebSessions(apiToken: "s3cret")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(sessions.login(token: "wrong", now: now) == nil)
        #expect(sessions.login(token: "", now: now) == nil)
        let cookie = try #require(sessions.login(token: "s3cret", now: now))
        let nonce = try #require(sessions.verify(cookie: cookie, now: now.addingTimeInterval(60)))
        #expect(sessions.verify(cookie: cookie, now: now.addingTimeInterval(WebSessions.lifetime + 1)) == nil)
        // Tampering with any part breaks the MAC; another token's sessions are not ours.
        let parts = cookie.split(separator: ".").map(String.init)
        #expect(sessions.verify(cookie: "\(parts[0]).\(Int(parts[1])! + 9999).\(parts[2])", now: now) == nil)
        let changed = parts[0].first == "0" ? "1" : "0"  // a different first character of the nonce
        #expect(sessions.verify(cookie: "\(changed)\(parts[0].dropFirst()).\(parts[1]).\(parts[2])", now: now) == nil)
        #expect(WebSessions(apiToken: "other").verify(cookie: cookie, now: now) == nil)
        #expect(sessions.verify(cookie: "garbage", now: now) == nil)
        // CSRF tokens belong to one session.
        let csrf = sessions.csrfToken(session: nonce)
        #expect(sessions.verifyCSRF(csrf, session: nonce))
        #expect(!sessions.verifyCSRF(nil, session: nonce))
        #expect(!sessions.verifyCSRF("", session: nonce))
        let second = try #require(sessions.verify(cookie: sessions.login(token: "s3cret", now: now), now: now))
        #expect(!sessions.verifyCSRF(csrf, session: second))
        // Logging out ends that session only.
        try sessions.logout(session: nonce, now: now)
        #expect(sessions.verify(cookie: cookie, now: now) == nil)
        #expect(sessions.verify(cookie: sessions.login(token: "s3cret", now: now), now: now) != nil)
    }

    @Test func aLogoutHoldsAcrossARestart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sessions-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let before = WebSessions(apiToken: "s3cret", store: try Store(stateDirectory: folder.path), now: now)
        let cookie = try #require(before.login(token: "s3cret", now: now))
        let other = try #require(before.login(token: "s3cret", now: now))
        let nonce = try #require(before.verify(cookie: cookie, now: now))
        try before.logout(session: nonce, now: now)
        // A new process (the same token, the same state directory): the logged-out cookie stays out.
        let after = WebSessions(apiToken: "s3cret", store: try Store(stateDirectory: folder.path), now: now)
        #expect(after.verify(cookie: cookie, now: now.addingTimeInterval(60)) == nil)
        #expect(after.verify(cookie: other, now: now.addingTimeInterval(60)) != nil)
        // Revocations expire with the cookies they revoke.
        let store = try Store(stateDirectory: folder.path)
        #expect(try store.revokedSessions(now: now).count == 1)
        #expect(try store.revokedSessions(now: now.addingTimeInterval(WebSessions.lifetime + 1)).isEmpty)
    }

    @Test func withoutATokenNobodyLogsIn() {
        let sessions = WebSessions(apiToken: nil)
        #expect(!sessions.enabled)
        #expect(sessions.login(token: "", now: Date()) == nil)
        #expect(!sessions.verifyCSRF("", session: "x"))
    }
}
