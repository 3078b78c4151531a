import Foundation
import Hummingbird
import ReconcileAPI
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore

/// `/api/v1/...`: the views the CLI shows, and its actions (trigger, rerun, silence).
struct APIRoutes: Sendable {
    let controller: Controller
    let stateDirectory: String

    var queries: Queries { Queries(store: controller.store, stateDirectory: stateDirectory) }

    struct RerunRequest: Codable, Sendable {
        var failed: Bool?
        var tasks: [String]?
        var downstream: Bool?
    }

    struct RerunResponse: Codable, Sendable {
        var run: RunView
        var tasks: [String]
        var cleared: Int
    }

    struct SilenceRequest: Codable, Sendable {
        var name: String
        var duration: String
    }

    struct SilenceResponse: Codable, Sendable {
        var key: String
        var until: Date
    }

    func add(to api: RouterGroup<BasicRequestContext>) {
        api.get("status") { _, _ in try self.json { try self.status() } }
        api.get("apps") { _, _ in try self.json { self.controller.current()?.apps ?? [] } }
        api.get("nodes") { _, _ in try self.json { self.controller.current()?.nodes ?? [] } }
        api.post("nodes/:node/drain") { request, context in
            let body = try await request.body.collect(upTo: 64 << 10)
            return try self.json {
                let input = body.readableBytes == 0 ? DrainRequest() : try Self.decode(DrainRequest.self, body)
                guard let current = self.controller.current() else { throw Self.notReady }
                return try self.queries.drain(
                    try context.parameters.require("node"), deadline: input.deadline, in: current.state, now: Date())
            }
        }
        api.post("nodes/:node/uncordon") { _, context in
            try self.json {
                guard let current = self.controller.current() else { throw Self.notReady }
                return try self.queries.uncordon(try context.parameters.require("node"), in: current.state)
            }
        }
        api.get("dags") { _, _ in
            try self.json { try self.queries.dags(self.controller.current()?.state ?? DesiredState(), now: Date()) }
        }
        api.post("dags/:dag/trigger") { request, context in
            let body = try await request.body.collect(upTo: 64 << 10)
            return try self.json(status: .created) {
                let input = body.readableBytes == 0 ? TriggerRequest() : try Self.decode(TriggerRequest.self, body)
                let dag = try context.parameters.require("dag")
                guard let current = self.controller.current() else { throw Self.notReady }
                return try self.queries.trigger(
                    dag, params: input.params ?? [:], in: current.state, commit: current.commit, now: Date())
            }
        }
        for (action, paused) in [("pause", true), ("unpause", false)] {
            api.post("dags/:dag/\(action)") { _, context in
                try self.json {
                    let dag = try context.parameters.require("dag")
                    guard let current = self.controller.current() else { throw Self.notReady }
                    let message = try self.queries.setPaused(
                        dag, paused, in: current.state, commit: current.commit, now: Date())
                    return PauseResponse(dag: dag, paused: paused, message: message)
                }
            }
        }
        api.post("runs/:dag/:run/cancel") { _, context in
            try self.json {
                try self.queries.cancel(
                    try context.parameters.require("dag") + "/" + context.parameters.require("run"), now: Date())
            }
        }
        api.post("runs/:dag/:run/mark") { request, context in
            let body = try await request.body.collect(upTo: 64 << 10)
            return try self.json {
                let input = try Self.decode(MarkRequest.self, body)
                guard input.state == "success" || input.state == "failed" else {
                    throw Queries.Failure(.invalid, "state is success or failed, not \"\(input.state.prefix(40))\"")
                }
                let dag = try context.parameters.require("dag")
                let spec = self.controller.current()?.state.dags.first { $0.name == dag }
                return try self.queries.mark(
                    dag + "/" + context.parameters.require("run"), task: input.task,
                    succeeded: input.state == "success", dag: spec, now: Date())
            }
        }
        api.get("runs") { request, _ in
            try self.json {
                let dag = request.uri.queryParameters["dag"].map(String.init)
                let limit = try QueryParameters.integer(
                    request.uri.queryParameters["limit"], name: "limit", in: 1...10_000, default: 50)
                return try self.queries.runs(dag: dag, limit: limit ?? 50)
            }
        }
        api.get("runs/:dag/:run") { _, context in
            try self.json {
                try self.queries.run(try context.parameters.require("dag") + "/" + context.parameters.require("run"))
            }
        }
        api.post("runs/:dag/:run/rerun") { request, context in
            let body = try await request.body.collect(upTo: 1 << 20)
            return try self.json {
                let input = try Self.decode(RerunRequest.self, body)
                let dag = try context.parameters.require("dag")
                let spec = self.controller.current()?.state.dags.first { $0.name == dag }
                let result = try self.queries.rerun(
                    dag + "/" + context.parameters.require("run"), failed: input.failed ?? false,
                    tasks: input.tasks ?? [], downstream: input.downstream ?? false, dag: spec)
                return RerunResponse(run: result.run, tasks: result.tasks, cleared: result.cleared)
            }
        }
        api.get("explain") { request, _ in try self.explain(request.uri.queryParameters) }
        api.get("alerts") { _, _ in try self.json { try self.queries.alerts(now: Date()) } }
        api.get("checks") { _, _ in try self.json { try self.queries.alerts(now: Date()).checks } }
        api.get("incidents") { _, _ in try self.json { try self.queries.alerts(now: Date()).incidents } }
        api.get("silences") { _, _ in
            try self.json {
                try self.controller.store.silences().filter { $0.value > Date() }.sorted { $0.key < $1.key }.map {
                    SilenceResponse(key: $0.key, until: $0.value)
                }
            }
        }
        api.post("silences") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            return try self.json(status: .created) {
                let input = try Self.decode(SilenceRequest.self, body)
                let span: Timespan
                do {
                    span = try Timespan(parsing: input.duration)
                } catch let error as ValueError {
                    throw Queries.Failure(.invalid, "duration: \(error.message)")
                }
                let (key, until) = try self.queries.silence(input.name, for: span, now: Date())
                return SilenceResponse(key: key, until: until)
            }
        }
        api.get("logs") { request, _ in
            try self.json {
                let query = request.uri.queryParameters
                guard let name = query["name"].map(String.init) else {
                    throw Queries.Failure(.invalid, "name is required")
                }
                return try self.queries.logs(
                    name, grep: query["grep"].map(String.init),
                    since: try QueryParameters.time(query["since"], name: "since"), run: query["run"].map(String.init),
                    tryNumber: try QueryParameters.integer(query["try"], name: "try", in: 1...1_000_000),
                    limit: try QueryParameters.integer(query["limit"], name: "limit", in: 1...1_000_000))
            }
        }
    }

    /// A JSON request body; one that does not decode is the client's mistake (400), said how.
    static func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer) throws -> T {
        do {
            return try APICoding.decoder.decode(type, from: Data(buffer: body))
        } catch let error as DecodingError {
            let detail: String =
                switch error {
                case .dataCorrupted(let context): context.debugDescription
                case .keyNotFound(let key, _): "\"\(key.stringValue)\" is missing"
                case .typeMismatch(_, let context), .valueNotFound(_, let context):
                    "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
                @unknown default: "\(error)"
                }
            throw Queries.Failure(.invalid, "the request body is not the JSON this route takes: \(detail)")
        }
    }

    static let notReady = Queries.Failure(.conflict, "the controller has not read a valid commit yet")

    /// `explain?app=NAME`, `explain?task=DAG/RUN/TASK` or `explain?incident=KEY`.
    func explain(_ query: Parameters) throws -> Response {
        if let name = query["app"].map(String.init) {
            return try json {
                guard let current = controller.current() else { throw Self.notReady }
                return try Self.explainApp(name, current: current, queries: queries)
            }
        }
        if let name = query["task"].map(String.init) { return try json { try queries.explainTask(name) } }
        if let name = query["incident"].map(String.init) {
            return try json { try queries.explainIncident(name, now: Date()) }
        }
        return try json { () throws -> String in
            throw Queries.Failure(.invalid, "say what to explain: ?app=NAME, ?task=DAG/RUN/TASK or ?incident=KEY")
        }
    }

    /// The App's explanation from the controller's last pass.
    static func explainApp(_ name: String, current: Controller.Current, queries: Queries) throws -> AppExplanation {
        guard let app = current.state.apps.first(where: { $0.name == name }) else {
            let names = current.state.apps.map(\.name).sorted()
            throw Queries.Failure(
                .notFound,
                "no app \(name) at commit \(current.commit.prefix(12)); "
                    + (names.isEmpty ? "it declares no app" : "apps: \(names.joined(separator: ", "))"))
        }
        return try queries.explainApp(
            app, replicas: current.observed.containers.filter { $0.app == name },
            change: current.plan.changes.first { $0.app == name }, actions: current.plan.actions)
    }

    func status() throws -> StatusView {
        let current = controller.current()
        return StatusView(
            commit: current?.commit, apps: current?.apps ?? [], nodes: current?.nodes ?? [],
            dags: try queries.dags(current?.state ?? DesiredState(), now: Date()),
            alerts: try queries.alerts(now: Date()))
    }

    /// The value as JSON; a query's failure as `{"error": ...}` with 404, 400 or 409.
    func json<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () throws -> T) throws -> Response {
        do {
            let data = try APICoding.encoder.encode(try body())
            return Response(
                status: status, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        } catch let failure as Queries.Failure {
            let data = try APICoding.encoder.encode(["error": failure.description])
            return Response(
                status: failure.status, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}

extension Queries.Failure {
    /// The HTTP status of a query's refusal: 404, 400 or 409.
    var status: HTTPResponse.Status {
        switch kind {
        case .notFound: .notFound
        case .invalid: .badRequest
        case .conflict: .conflict
        }
    }
}
