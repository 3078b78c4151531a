import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ReconcileAPI
import ReconcileModel
import ReconcileStore
import ReconcileWeb
import ServiceLifecycle

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
    ) -> some Service {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        let log = controller.log
        let metrics = controller.metrics
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        router.post("hooks/git") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 10 << 20)
            let bytes = Array(buffer: body)
            switch WebhookVerifier.verify(headers: request.headers, body: bytes, secret: options.webhookSecret) {
            case .push(let provider):
                metrics.webhookPushes.increment()
                log("webhook: push from \(provider); polling git now")
                controller.requestPoll()
                return Response(status: .accepted)
            case .ignored(let provider, let event):
                return Response(
                    status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "\(provider) \(event): ignored\n")))
            case .rejected(let reason):
                metrics.webhookRejected.increment()
                log("webhook rejected: \(reason)")  // never the payload
                return Response(status: .unauthorized)
            }
        }
        let api = router.group("api/v1").add(middleware: BearerAuthentication(token: options.apiToken))
        APIRoutes(controller: controller, stateDirectory: stateDirectory).add(to: api)
        do {
            let pages = try WebPages(queries: Queries(store: controller.store, stateDirectory: stateDirectory))
            WebRoutes(controller: controller, pages: pages, sessions: WebSessions(apiToken: options.apiToken)).add(
                to: router)
        } catch {
            log("web UI: its templates do not parse: \(error)")
        }
        var configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port))
        configuration.serverName = "reconcile"
        return Application(
            router: router, configuration: configuration,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) }, logger: logger)
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

/// Push webhooks: GitHub (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`), Gitea
/// (`X-Gitea-Signature: <HMAC-SHA256>`) and GitLab (`X-Gitlab-Token: <secret>`).
public enum WebhookVerifier {
    public enum Outcome: Sendable, Equatable {
        case push(provider: String)
        /// Verified, but not a push (a ping, say): accepted, nothing to do.
        case ignored(provider: String, event: String)
        case rejected(String)
    }

    public static func verify(headers: HTTPFields, body: [UInt8], secret: String?) -> Outcome {
        guard let secret, !secret.isEmpty else { return .rejected("no webhook secret is configured") }
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }
        let key = SymmetricKey(data: Array(secret.utf8))
        let expected = Array(HMAC<SHA256>.authenticationCode(for: body, using: key))
        if let signature = header("X-Hub-Signature-256") {
            guard signature.hasPrefix("sha256="), let given = hex(String(signature.dropFirst(7))),
                WebSessions.equal(given, expected)
            else { return .rejected("GitHub signature does not match") }
            let event = header("X-GitHub-Event") ?? "push"
            return event == "push" ? .push(provider: "GitHub") : .ignored(provider: "GitHub", event: event)
        }
        if let signature = header("X-Gitea-Signature") {
            guard let given = hex(signature), WebSessions.equal(given, expected) else {
                return .rejected("Gitea signature does not match")
            }
            let event = header("X-Gitea-Event") ?? "push"
            return event == "push" ? .push(provider: "Gitea") : .ignored(provider: "Gitea", event: event)
        }
        if let token = header("X-Gitlab-Token") {
            guard WebSessions.equal(Array(token.utf8), Array(secret.utf8)) else {
                return .rejected("GitLab token does not match")
            }
            let event = header("X-Gitlab-Event") ?? "Push Hook"
            return event == "Push Hook" || event == "Tag Push Hook"
                ? .push(provider: "GitLab") : .ignored(provider: "GitLab", event: event)
        }
        return .rejected("no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)")
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
