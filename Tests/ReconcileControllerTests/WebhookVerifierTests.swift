import Crypto
import Foundation
import HTTPTypes
import Testing

@testable import ReconcileServer

@Suite struct WebhookVerifierTests {
    let body = Array(#"{"ref":"refs/heads/main","after":"0123"}"#.utf8)
    let secret = "s3cret"

    var signature: String {
        HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))).map {
            String(format: "%02x", $0)
        }.joined()
    }

    func headers(_ pairs: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs { fields[HTTPField.Name(name)!] = value }
        return fields
    }

    @Test func eachProviderIsVerifiedItsOwnWay() {
        let github = headers([("X-GitHub-Event", "push"), ("X-Hub-Signature-256", "sha256=\(signature)")])
        #expect(WebhookVerifier.verify(headers: github, body: body, secret: secret) == .push(provider: "GitHub"))
        let gitea = headers([("X-Gitea-Event", "push"), ("X-Gitea-Signature", signature.uppercased())])
        #expect(WebhookVerifier.verify(headers: gitea, body: body, secret: secret) == .push(provider: "Gitea"))
        let gitlab = headers([("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", secret)])
        #expect(WebhookVerifier.verify(headers: gitlab, body: body, secret: secret) == .push(provider: "GitLab"))
        let ping = headers([("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", "sha256=\(signature)")])
        #expect(
            WebhookVerifier.verify(headers: ping, body: body, secret: secret)
                == .ignored(provider: "GitHub", event: "ping"))
    }

    @Test func anythingElseIsRejected() {
        let tampered = body + [32]
        let github = headers([("X-Hub-Signature-256", "sha256=\(signature)")])
        #expect(
            WebhookVerifier.verify(headers: github, body: tampered, secret: secret)
                == .rejected("GitHub signature does not match"))
        #expect(
            WebhookVerifier.verify(headers: headers([("X-Hub-Signature-256", signature)]), body: body, secret: secret)
                == .rejected("GitHub signature does not match"))  // no sha256= prefix
        #expect(
            WebhookVerifier.verify(headers: headers([("X-Gitlab-Token", "S3CRET")]), body: body, secret: secret)
                == .rejected("GitLab token does not match"))
        #expect(
            WebhookVerifier.verify(headers: headers([("X-Gitea-Signature", "zz")]), body: body, secret: secret)
                == .rejected("Gitea signature does not match"))
        #expect(
            WebhookVerifier.verify(headers: headers([]), body: body, secret: secret)
                == .rejected("no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"))
        #expect(
            WebhookVerifier.verify(headers: github, body: body, secret: nil)
                == .rejected("no webhook secret is configured"))
    }
}

@Suite struct WebRedirectTests {
    /// `next` after login is a path on this site only: a tab or newline (which browsers drop from
    /// URLs) or a backslash must not turn it into `//host`.
    @Test func nextIsOnlyEverAPathOnThisSite() {
        for hostile in [
            "/\t/evil.example/x", "/\n/evil.example", "/\r/evil.example", "//evil.example", "/\\evil.example",
            "https://evil.example", "evil.example", "/ /evil.example", "/\u{0}/evil.example", "/\u{7F}/x", "/é/x",
            "",
        ] {
            #expect(HTTPForm.safeNext(Substring(hostile)) == "/", "\(hostile.debugDescription)")
        }
        #expect(HTTPForm.safeNext(nil) == "/")
        for fine in ["/", "/dags", "/dags/etl/runs/x?done=rerun", "/logs?name=a&grep=%5Cd"] {
            #expect(HTTPForm.safeNext(Substring(fine)) == fine)
        }
    }
}
