import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ReconcileAPI
import ReconcileModel
import ReconcileRuntime
import ReconcileStore
import ReconcileWeb
import ServiceLifecycle
import Synchronization

/// The controller's HTTP server (Hummingbird): `/healthz`, `/metrics` (Prometheus text format),
/// `POST /hooks/git` (push webhooks from GitHub, GitLab and Gitea, verified against a shared
/// secret; a valid push makes the controller poll git at once), and the JSON API under `/api/v1/`,
/// where every route needs `Authorization: Bearer <token>`.
public enum ControllerServer {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// The API's bearer token; without one the API answers 401 to everything.
        public var apiToken: String?
        /// The webhook secret; without one every webhook gets 401.
        public var webhookSecret: String?
        /// Connection caps and header, body and keep-alive deadlines of the HTTP server.
        var connectionLimits = ConnectionGuard.Limits()
        /// Serve HTTPS with this certificate chain and key (PEM); plain HTTP without.
        public var tls: (chain: String, key: String)?

        public init(host: String = "127.0.0.1", port: Int = 7600, apiToken: String?, webhookSecret: String?) {
            self.host = host
            self.port = port
            self.apiToken = apiToken
            self.webhookSecret = webhookSecret
        }
    }

    public static func application(
        controller: Controller, options: Options, stateDirectory: String, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some Service {
        let router = router(controller: controller, options: options, stateDirectory: stateDirectory)
        var configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port))
        configuration.serverName = "reconcile"
        let ledger = ConnectionGuard.Ledger(limits: options.connectionLimits)
        let http = HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [ConnectionGuard(ledger: ledger)]))
        return Application(
            router: router,
            server: try options.tls.map { try .tls(http, tlsConfiguration: try serverTLS($0)) } ?? http,
            configuration: configuration,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) }, logger: logger)
    }

    /// A server TLS configuration from a PEM chain and key; the error says which does not load.
    public static func serverTLS(_ pem: (chain: String, key: String)) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(pem.chain.utf8))
        } catch {
            throw ValueError("--tls-cert does not hold a PEM certificate chain (\(error))")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(pem.key.utf8), format: .pem)
        } catch {
            throw ValueError("--tls-key does not hold a PEM private key (\(error))")
        }
        guard !chain.isEmpty else { throw ValueError("--tls-cert holds no certificate") }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    /// Every route of the server (its `routes` list what it serves: the hostile-parameter test
    /// walks them all).
    public static func router(
        controller: Controller, options: Options, stateDirectory: String
    ) -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        // A change made through the API or the UI (a drain, a trigger, a pause) is acted on at the
        // next tick even while the cluster is quiet.
        router.add(middleware: WakesTheController(controller: controller))
        let log = controller.log
        let metrics = controller.metrics
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        let rejections = RejectionLog(log: log)
        router.post("hooks/git") { request, _ -> Response in
            // The headers decide first: a request without a configured secret or a signature header
            // is refused before any of its body is read; a signed one is hashed as it streams (never
            // held), up to WebhookVerifier.maxBody.
            var pending: WebhookVerifier.Pending
            switch WebhookVerifier.start(headers: request.headers, secret: options.webhookSecret) {
            case .failure(let outcome):
                return Self.answer(outcome, metrics: metrics, rejections: rejections)
            case .success(let started):
                pending = started
            }
            var received = 0
            for try await chunk in request.body {
                received += chunk.readableBytes
                guard received <= WebhookVerifier.maxBody else {
                    metrics.webhookRejected.increment()
                    rejections.note("a body over \(WebhookVerifier.maxBody) bytes")
                    return Response(status: .contentTooLarge, headers: [.connection: "close"])
                }
                chunk.withUnsafeReadableBytes { pending.update($0) }
            }
            let outcome = pending.finish()
            if case .push(let provider) = outcome {
                metrics.webhookPushes.increment()
                log("webhook: push from \(provider); polling git now")
                controller.requestPoll()
            }
            return Self.answer(outcome, metrics: metrics, rejections: rejections)
        }
        let api = router.group("api/v1").add(middleware: BearerAuthentication(token: options.apiToken))
        APIRoutes(controller: controller, stateDirectory: stateDirectory).add(to: api)
        do {
            let pages = try WebPages(queries: Queries(store: controller.store, stateDirectory: stateDirectory))
            WebRoutes(
                controller: controller, pages: pages, servesTLS: options.tls != nil,
                sessions: WebSessions(apiToken: options.apiToken, store: controller.store)
            ).add(
                to: router)
        } catch {
            log("web UI: its templates do not parse: \(error)")
        }
        return router
    }
}

extension ControllerServer {
    static func answer(
        _ outcome: WebhookVerifier.Outcome, metrics: ControllerMetrics, rejections: RejectionLog
    )
        -> Response
    {
        switch outcome {
        case .push:
            return Response(status: .accepted)
        case .ignored(let provider, let event):
            return Response(
                status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "\(provider) \(event): ignored\n")))
        case .rejected(let reason):
            metrics.webhookRejected.increment()
            rejections.note(reason)  // never the payload
            return Response(status: .unauthorized, headers: [.connection: "close"])
        }
    }
}

/// Rejected webhooks in the controller's log: the first at once, then at most one line every ten
/// seconds with how many more there were (a flood of bad requests must not flood the log).
final class RejectionLog: Sendable {
    private let log: @Sendable (String) -> Void
    private let state = Mutex<(last: Date, suppressed: Int)>((.distantPast, 0))

    init(log: @escaping @Sendable (String) -> Void) { self.log = log }

    func note(_ reason: String, now: Date = Date()) {
        let line: String? = state.withLock { state in
            guard now.timeIntervalSince(state.last) >= 10 else {
                state.suppressed += 1
                return nil
            }
            let more = state.suppressed
            state = (now, 0)
            return "webhook rejected: \(reason)" + (more > 0 ? " (and \(more) more in the last 10s)" : "")
        }
        if let line { log(line) }
    }
}

/// `Authorization: Bearer <token>`, compared in constant time; 401 otherwise.
struct BearerAuthentication<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let token, let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            WebSessions.equal(Array(header.dropFirst(7).utf8), Array(token.utf8))
        else {
            return Response(
                status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"error\":\"missing or wrong bearer token\"}\n")))
        }
        return try await next(request, context)
    }
}

/// After a request that may have changed something (any method but GET and HEAD, answered below
/// 400), asks the controller for a full pass and DAG step at its next tick. At most one pass per
/// tick comes of it, however many requests arrive.
struct WakesTheController<Context: RequestContext>: RouterMiddleware {
    let controller: Controller

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let response = try await next(request, context)
        if request.method != .get, request.method != .head, response.status.code < 400 { controller.requestPass() }
        return response
    }
}

/// Push webhooks: GitHub (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`), Gitea
/// (`X-Gitea-Signature: <HMAC-SHA256>`) and GitLab (`X-Gitlab-Token: <secret>`).
public enum WebhookVerifier {
    public enum Outcome: Error, Sendable, Equatable {
        case push(provider: String)
        /// Verified, but not a push (a ping, say): accepted, nothing to do.
        case ignored(provider: String, event: String)
        case rejected(String)
    }

    /// The largest body accepted (GitHub's own cap on webhook payloads): 25 MiB.
    public static let maxBody = 25 << 20

    /// A request whose headers passed: its body still to be hashed (GitHub, Gitea) or only to be
    /// read (GitLab's token is checked from the header alone).
    public struct Pending: Sendable {
        let provider: String
        let event: String
        let isPush: Bool
        /// The signature to compare with the body's HMAC; nil when the header already decided.
        let expected: [UInt8]?
        var hmac: HMAC<SHA256>

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            if expected != nil { hmac.update(data: bytes) }
        }

        public func finish() -> Outcome {
            if let expected {
                let computed = Array(hmac.finalize())
                guard WebSessions.equal(expected, computed) else {
                    return .rejected("\(provider) signature does not match")
                }
            }
            return isPush ? .push(provider: provider) : .ignored(provider: provider, event: event)
        }
    }

    /// Checks what the headers alone can: a secret is configured and a signature header is there
    /// (well-formed), or GitLab's token matches. The body is read only after this succeeds.
    public static func start(headers: HTTPFields, secret: String?) -> Result<Pending, Outcome> {
        guard let secret, !secret.isEmpty else { return .failure(.rejected("no webhook secret is configured")) }
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }
        let hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        if let signature = header("X-Hub-Signature-256") {
            guard signature.hasPrefix("sha256="), let given = hex(String(signature.dropFirst(7))), given.count == 32
            else { return .failure(.rejected("GitHub signature does not match")) }
            let event = header("X-GitHub-Event") ?? "push"
            return .success(
                Pending(provider: "GitHub", event: event, isPush: event == "push", expected: given, hmac: hmac))
        }
        if let signature = header("X-Gitea-Signature") {
            guard let given = hex(signature), given.count == 32 else {
                return .failure(.rejected("Gitea signature does not match"))
            }
            let event = header("X-Gitea-Event") ?? "push"
            return .success(
                Pending(provider: "Gitea", event: event, isPush: event == "push", expected: given, hmac: hmac))
        }
        if let token = header("X-Gitlab-Token") {
            guard WebSessions.equal(Array(token.utf8), Array(secret.utf8)) else {
                return .failure(.rejected("GitLab token does not match"))
            }
            let event = header("X-Gitlab-Event") ?? "Push Hook"
            return .success(
                Pending(
                    provider: "GitLab", event: event, isPush: event == "Push Hook" || event == "Tag Push Hook",
                    expected: nil, hmac: hmac))
        }
        return .failure(
            .rejected("no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"))
    }

    /// `start`, then the whole body at once.
    public static func verify(headers: HTTPFields, body: [UInt8], secret: String?) -> Outcome {
        switch start(headers: headers, secret: secret) {
        case .failure(let outcome): return outcome
        case .success(var pending):
            body.withUnsafeBytes { pending.update($0) }
            return pending.finish()
        }
    }

    static func hex(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case 48...57: character - 48
        case 97...102: character - 87
        case 65...70: character - 55
        default: nil
        }
    }
}
