import Foundation
import HTTPTypes
import Hummingbird
import ReconcileAPI
import ReconcileModel
import ReconcileRuntime
import ReconcileStore
import ReconcileWeb

/// The web UI at `/`: a login form that trades the API token for a session cookie (Secure,
/// HttpOnly, SameSite=Lax, so a link from a mail or chat opens the page signed in; POSTs are
/// guarded by CSRF tokens, not by the cookie), pages that redirect to it without one, and forms
/// whose POSTs need the session's CSRF token. Pages carry a Content-Security-Policy that allows
/// no script at all.
struct WebRoutes: Sendable {
    let controller: Controller
    let pages: WebPages
    /// False: plain HTTP, where browsers keep the Secure login cookie only on localhost.
    let servesTLS: Bool
    let sessions: WebSessions

    static let securityHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy:
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff", .cacheControl: "no-store", HTTPField.Name("Referrer-Policy")!: "same-origin",
        HTTPField.Name("X-Frame-Options")!: "DENY",
    ]

    /// What a redirect after an action says on the next page (fixed texts: a link cannot make the
    /// page say anything else).
    static let notices: [String: Chrome.Notice] = [
        "triggered": .init(kind: "good", text: "Run triggered: the controller starts it within a tick."),
        "rerun": .init(kind: "good", text: "Cleared: the controller runs those tasks again within a tick."),
        "paused": .init(kind: "good", text: "Paused: no scheduled run starts until it is unpaused."),
        "unpaused": .init(kind: "good", text: "Unpaused: missed runs follow the DAG's catchup rule."),
        "cancelled": .init(kind: "good", text: "Cancel asked: the controller stops the run within a step."),
        "marked": .init(kind: "good", text: "Marked: the controller goes on from there within a step."),
        "silenced": .init(kind: "good", text: "Silenced."),
        "drained": .init(kind: "good", text: "Draining: its replicas move elsewhere as their replacements get ready."),
        "uncordoned": .init(kind: "good", text: "Schedulable again: the node takes new work from the next pass."),
    ]

    var snapshot: WebSnapshot? {
        controller.current().map {
            WebSnapshot(
                state: $0.state, commit: $0.commit, appliedAt: $0.appliedAt, apps: $0.apps, nodes: $0.nodes,
                replicas: $0.replicas, observed: $0.observed, plan: $0.plan)
        }
    }

    func add(to router: Hummingbird.Router<BasicRequestContext>) {
        router.get("/login") { request, _ in
            Self.html(
                pages.login(
                    enabled: sessions.enabled, error: nil, next: HTTPForm.safeNext(request.uri.queryParameters["next"]),
                    plainHTTP: !servesTLS)
            )
        }
        router.post("/login") { request, _ -> Response in
            let form = await Self.form(request)
            let next = HTTPForm.safeNext(form["next"].map { Substring($0) })
            guard let cookie = sessions.login(token: form["token"] ?? "", now: Date()) else {
                // Slows guessing; the log line has no token in it.
                try? await Task.sleep(for: .milliseconds(300))
                controller.log("web: a login with a wrong token was refused")
                return Self.html(
                    pages.login(
                        enabled: sessions.enabled,
                        error: sessions.enabled ? "That is not the controller's API token." : nil, next: next,
                        plainHTTP: !servesTLS),
                    status: .unauthorized)
            }
            var response = Self.redirect(next)
            response.setCookie(
                Cookie(
                    name: WebSessions.cookieName, value: cookie, maxAge: Int(WebSessions.lifetime), path: "/",
                    secure: true, httpOnly: true, sameSite: .lax))
            return response
        }
        router.post("/logout") { request, _ in
            try await action(request) { nonce, _ in
                do {
                    try sessions.logout(session: nonce, now: Date())
                } catch {
                    controller.log("web: a logout could not be stored (it holds until a restart): \(error)")
                }
                var response = Self.redirect("/login")
                response.setCookie(
                    Cookie(
                        name: WebSessions.cookieName, value: "", maxAge: 0, path: "/", secure: true, httpOnly: true,
                        sameSite: .lax))
                return response
            }
        }
        router.get("/") { request, _ in
            page(request) { chrome in try pages.overview(snapshot: snapshot, chrome: chrome, now: Date()) }
        }
        router.get("/dags") { request, _ in
            page(request) { chrome in try pages.dags(snapshot: snapshot, chrome: chrome, now: Date()) }
        }
        router.get("/nodes") { request, _ in page(request) { chrome in pages.nodes(snapshot: snapshot, chrome: chrome) }
        }
        router.get("/alerts") { request, _ in page(request) { chrome in try pages.alerts(chrome: chrome, now: Date()) }
        }
        router.get("/logs") { request, _ in
            page(request) { chrome in
                let query = request.uri.queryParameters
                if let since = query["since"], !since.isEmpty {
                    do {
                        _ = try Timespan(parsing: String(since))
                    } catch {
                        throw Queries.Failure(
                            .invalid, "since must be a duration such as 15m, 1h or 7d, not \"\(since.prefix(40))\"")
                    }
                }
                return pages.logs(
                    name: query["name"].map(String.init) ?? "", grep: query["grep"].map(String.init) ?? "",
                    since: query["since"].map(String.init) ?? "1h", chrome: chrome, now: Date())
            }
        }
        router.get("/apps/:app") { request, context in
            let app = Self.parameter(context, "app")
            return page(request) { chrome in try pages.app(app, snapshot: snapshot, chrome: chrome) }
        }
        router.get("/dags/:dag") { request, context in
            let dag = Self.parameter(context, "dag")
            let query = request.uri.queryParameters
            return page(request) { chrome in
                let runs = try QueryParameters.integer(query["runs"], name: "runs", in: 1...200, default: 25)
                return try pages.dag(
                    dag, selected: query["run"].map(String.init), runs: runs ?? 25, snapshot: snapshot, chrome: chrome,
                    now: Date())
            }
        }
        router.get("/dags/:dag/runs/:run") { request, context in
            let (dag, run) = (Self.parameter(context, "dag"), Self.parameter(context, "run"))
            return page(request) { chrome in try pages.run(dag, run, snapshot: snapshot, chrome: chrome, now: Date()) }
        }
        router.post("/dags/:dag/trigger") { request, context in
            let dag = Self.parameter(context, "dag")
            return try await action(request) { _, form in
                guard let current = controller.current() else { throw APIRoutes.notReady }
                // The form's param fields (`param.NAME`); empty ones take the default.
                var params: [String: String] = [:]
                for (key, value) in form where key.hasPrefix("param.") && !value.isEmpty {
                    params[String(key.dropFirst("param.".count))] = value
                }
                let run = try pages.queries.trigger(
                    dag, params: params, in: current.state, commit: current.commit, now: Date())
                return Self.redirect("/dags/\(Self.segment(dag))/runs/\(Self.segment(run.run))?done=triggered")
            }
        }
        router.post("/dags/:dag/runs/:run/rerun") { request, context in
            let (dag, run) = (Self.parameter(context, "dag"), Self.parameter(context, "run"))
            return try await action(request) { _, form in
                let task = form["task"].flatMap { $0.isEmpty ? nil : $0 }
                _ = try pages.queries.rerun(
                    dag + "/" + run, failed: form["failed"] == "1", tasks: task.map { [$0] } ?? [],
                    downstream: form["downstream"] == "1",
                    dag: controller.current()?.state.dags.first { $0.name == dag })
                return Self.redirect("/dags/\(Self.segment(dag))/runs/\(Self.segment(run))?done=rerun")
            }
        }
        for (action, paused) in [("pause", true), ("unpause", false)] {
            router.post("/dags/:dag/\(action)") { request, context in
                let dag = Self.parameter(context, "dag")
                return try await self.action(request) { _, _ in
                    guard let current = controller.current() else { throw APIRoutes.notReady }
                    _ = try pages.queries.setPaused(dag, paused, in: current.state, commit: current.commit, now: Date())
                    return Self.redirect("/dags/\(Self.segment(dag))?done=\(paused ? "paused" : "unpaused")")
                }
            }
        }
        router.post("/dags/:dag/runs/:run/cancel") { request, context in
            let (dag, run) = (Self.parameter(context, "dag"), Self.parameter(context, "run"))
            return try await action(request) { _, _ in
                _ = try pages.queries.cancel(dag + "/" + run, now: Date())
                return Self.redirect("/dags/\(Self.segment(dag))/runs/\(Self.segment(run))?done=cancelled")
            }
        }
        router.post("/dags/:dag/runs/:run/mark") { request, context in
            let (dag, run) = (Self.parameter(context, "dag"), Self.parameter(context, "run"))
            return try await action(request) { _, form in
                guard let task = form["task"], let state = form["state"], state == "success" || state == "failed" else {
                    throw Queries.Failure(.invalid, "a mark names a task and success or failed")
                }
                _ = try pages.queries.mark(
                    dag + "/" + run, task: task, succeeded: state == "success",
                    dag: controller.current()?.state.dags.first { $0.name == dag }, now: Date())
                return Self.redirect("/dags/\(Self.segment(dag))/runs/\(Self.segment(run))?done=marked")
            }
        }
        router.post("/nodes/:node/drain") { request, context in
            let node = Self.parameter(context, "node")
            return try await action(request) { _, form in
                guard let current = controller.current() else { throw APIRoutes.notReady }
                let deadline = form["deadline"].flatMap { $0.isEmpty ? nil : $0 }
                _ = try pages.queries.drain(node, deadline: deadline, in: current.state, now: Date())
                return Self.redirect("/nodes?done=drained")
            }
        }
        router.post("/nodes/:node/uncordon") { request, context in
            let node = Self.parameter(context, "node")
            return try await action(request) { _, _ in
                guard let current = controller.current() else { throw APIRoutes.notReady }
                _ = try pages.queries.uncordon(node, in: current.state)
                return Self.redirect("/nodes?done=uncordoned")
            }
        }
        router.post("/alerts/silence") { request, _ in
            try await action(request) { _, form in
                let span: Timespan
                do {
                    span = try Timespan(parsing: form["duration"] ?? "")
                } catch let error as ValueError {
                    throw Queries.Failure(.invalid, "duration: \(error.message)")
                }
                _ = try pages.queries.silence(form["name"] ?? "", for: span, now: Date())
                return Self.redirect("/alerts?done=silenced")
            }
        }
    }

    /// A page for a signed-in browser; otherwise a redirect to the login form. `body` returns nil
    /// for something that does not exist (404).
    func page(_ request: Request, _ body: (Chrome) throws -> String?) -> Response {
        guard let nonce = sessions.verify(cookie: request.cookies[WebSessions.cookieName]?.value, now: Date()) else {
            let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            let encoded = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
            return Self.redirect("/login?next=" + encoded)
        }
        let done = request.uri.queryParameters["done"]
        let notice = done.flatMap { Self.notices[String($0)] }
        let chrome = WebPages.chrome(csrf: sessions.csrfToken(session: nonce), snapshot: snapshot, notice: notice)
        do {
            if let done, notice == nil {
                throw Queries.Failure(
                    .invalid,
                    "done must be one of \(Self.notices.keys.sorted().joined(separator: ", ")), not \"\(done.prefix(40))\""
                )
            }
            guard let html = try body(chrome) else {
                return Self.html(
                    pages.message("Not found", "Nothing is at \(request.uri.path).", back: "/", chrome: chrome),
                    status: .notFound)
            }
            return Self.html(html)
        } catch let failure as Queries.Failure {
            return Self.html(
                pages.message("Cannot show this page", failure.description, back: "/", chrome: chrome),
                status: failure.status)
        } catch {
            return Self.html(
                pages.message("Cannot show this page", "\(error)", back: "/", chrome: chrome),
                status: .internalServerError)
        }
    }

    /// A form POST: 401 without a session, 403 without its CSRF token (or from another origin);
    /// a query's refusal is shown on a page with the matching status.
    func action(
        _ request: Request, _ body: (String, [String: String]) throws -> Response
    ) async throws -> Response {
        guard let nonce = sessions.verify(cookie: request.cookies[WebSessions.cookieName]?.value, now: Date()) else {
            return Response(
                status: .unauthorized, headers: Self.securityHeaders,
                body: .init(byteBuffer: ByteBuffer(string: "Log in first: /login\n")))
        }
        let form = await Self.form(request)
        let sameOrigin: Bool =
            if let origin = request.headers[.origin], let host = request.head.authority {
                origin == "http://\(host)" || origin == "https://\(host)"
            } else { true }
        guard sessions.verifyCSRF(form["csrf"], session: nonce), sameOrigin else {
            controller.log("web: a POST to \(request.uri.path) without a valid CSRF token was refused")
            return Response(
                status: .forbidden, headers: Self.securityHeaders,
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "This form's CSRF token is missing or wrong; reload the page and try again.\n")))
        }
        let chrome = WebPages.chrome(csrf: sessions.csrfToken(session: nonce), snapshot: snapshot)
        do {
            return try body(nonce, form)
        } catch let failure as Queries.Failure {
            let back = request.headers[.referer].flatMap { URL(string: $0)?.path } ?? "/"
            return Self.html(
                pages.message(
                    "Not done", failure.description, back: HTTPForm.safeNext(Substring(back)), chrome: chrome),
                status: failure.status)
        }
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: securityHeaders, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func parameter(_ context: BasicRequestContext, _ name: String) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
            ?? text
    }

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB) as fields.
    static func form(_ request: Request) async -> [String: String] {
        guard let body = try? await request.body.collect(upTo: 64 * 1024) else { return [:] }
        return HTTPForm.decode(String(buffer: body))
    }
}
