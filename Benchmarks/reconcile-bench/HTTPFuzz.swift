import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import ReconcileAPI
import ReconcileServer

/// A property run over the HTTP input the controller decodes itself, for `--seconds` (default 600)
/// from a seeded generator (`--runs` is the seed): query strings through Hummingbird's URI and the
/// API's parameter checks, form bodies, the `next` page after login, and signed and unsigned
/// webhooks split into random chunks. Any broken property stops the run with the input.
func runHTTPFuzz(_ options: Options) throws {
    var generator = SplitMix(seed: UInt64(options.runs))
    let alphabet = Array(
        "abc019-+.eE%&=?/\\\t\n #;:@!$'()*,[]{}|^~`\"<>é中\u{0}\u{7F}\u{FEFF}NaNinfx".unicodeScalars)
    let words = [
        "limit", "since", "try", "runs", "name", "grep", "next", "-1", "0", "1e308", "NaN", "inf", "%00", "%FF",
        "%2F", "//", "/\t/", "9223372036854775807", "99999999999999999999", "", "=", "&", "+", "%", "%%", "..",
    ]
    func text(_ length: Int) -> String {
        var out = ""
        for _ in 0..<length {
            if generator.next() % 4 == 0 {
                out += words[Int(generator.next() % UInt64(words.count))]
            } else {
                out.unicodeScalars.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
            }
        }
        return out
    }
    func fail(_ property: String, _ input: String) -> Never {
        print("fuzz-http: property broken: \(property)\n  input: \(input.debugDescription)")
        exit(1)
    }
    let secret = "fuzz-secret"
    let key = SymmetricKey(data: Array(secret.utf8))
    let start = Date()
    var cases = 0
    while Date().timeIntervalSince(start) < Double(options.seconds) {
        for _ in 0..<200 {
            cases += 1
            // Query strings: Hummingbird's parser, then the API's checks.
            let query = text(Int(generator.next() % 40))
            let uri = URI("/api/v1/logs?" + query)
            for name in ["limit", "try", "runs", "since"] {
                let raw = uri.queryParameters[Substring(name)]
                do {
                    if let value = try QueryParameters.integer(raw, name: name, in: 1...10_000) {
                        guard (1...10_000).contains(value), raw.flatMap({ Int($0) }) == value else {
                            fail("integer \(name) in range and equal to its text", query)
                        }
                    } else if raw != nil {
                        fail("a present integer is a value or an error", query)
                    }
                } catch {
                    guard error.description.hasPrefix(name + " must be") else {
                        fail("integer error names \(name)", query)
                    }
                }
                if let time = try? QueryParameters.time(raw, name: name) {
                    guard time.timeIntervalSince1970.isFinite, time.timeIntervalSince1970 >= 0 else {
                        fail("time finite and not before 1970", query)
                    }
                }
            }
            // Forms: arbitrary text decodes; encoded fields come back as they were.
            let body = text(Int(generator.next() % 60))
            _ = HTTPForm.decode(body)
            let fieldName = "k" + text(Int(generator.next() % 8))
            let fieldValue = text(Int(generator.next() % 12))
            let allowed = CharacterSet.alphanumerics
            let encoded =
                (fieldName.addingPercentEncoding(withAllowedCharacters: allowed) ?? "") + "="
                + (fieldValue.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
            guard HTTPForm.decode("a=1&" + encoded)[fieldName] == fieldValue else {
                fail("an encoded field decodes to itself", encoded)
            }
            // The page after login: "/" or a path on this site that no browser turns into another host.
            let next = text(Int(generator.next() % 20))
            let safe = HTTPForm.safeNext(Substring(next))
            guard safe == "/" || (safe == next && safe.hasPrefix("/") && !safe.hasPrefix("//")),
                safe.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "\\" })
            else { fail("safeNext stays on this site", next) }
            // Webhooks: random headers never verify; the right signature does, however the body
            // arrives in chunks.
            let payload = Array(text(Int(generator.next() % 200)).utf8)
            var headers = HTTPFields()
            let headerName = ["X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token", "X-Other"][
                Int(generator.next() % 4)]
            headers[HTTPField.Name(headerName)!] = text(Int(generator.next() % 70))
            if case .push = WebhookVerifier.verify(headers: headers, body: payload, secret: secret) {
                fail("a random signature does not verify", "\(headers) \(payload)")
            }
            let signature = HMAC<SHA256>.authenticationCode(for: payload, using: key).map {
                String(format: "%02x", $0)
            }.joined()
            var signed = HTTPFields()
            signed[HTTPField.Name("X-Hub-Signature-256")!] = "sha256=" + signature
            guard case .success(var pending) = WebhookVerifier.start(headers: signed, secret: secret) else {
                fail("a signed request passes its headers", signature)
            }
            var offset = 0
            while offset < payload.count {
                let size = 1 + Int(generator.next() % 50)
                let end = min(payload.count, offset + size)
                payload[offset..<end].withUnsafeBytes { pending.update($0) }
                offset = end
            }
            guard pending.finish() == .push(provider: "GitHub") else {
                fail("a correctly signed body verifies in any chunking", String(decoding: payload, as: UTF8.self))
            }
        }
    }
    print(
        "fuzz-http: \(cases) cases in \(Int(Date().timeIntervalSince(start))) s (seed \(options.runs)): every property held"
    )
}

/// A small seeded generator (SplitMix64): a run is repeated by its seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
