import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReconcileAPI
import ReconcileModel
import ReconcileSecrets

/// `--controller URL`: ask a running controller's API instead of reading the state directory.
struct ControllerOptions: ParsableArguments {
    @Option(help: "A running controller's API, e.g. http://127.0.0.1:7600 (default: read --state directly).")
    var controller: String?

    @Option(help: "The API's bearer token as a secret reference (env:NAME or file:/path).")
    var apiToken: String = "env:RECONCILE_API_TOKEN"

    func client() throws -> ControllerClient? {
        guard let controller else { return nil }
        let token: String
        do {
            token = try SecretReader.read(try SecretReference(parsing: apiToken))
        } catch {
            throw CommandError("--api-token: \(error)")
        }
        return ControllerClient(
            base: controller.hasSuffix("/") ? String(controller.dropLast()) : controller, token: token)
    }
}

/// The controller's JSON API over HTTP, with its bearer token.
struct ControllerClient: Sendable {
    let base: String
    let token: String

    func get<T: Decodable>(_ path: String, _ type: T.Type) async throws -> T {
        try await send(.GET, path, body: nil, type)
    }

    func post<T: Decodable, Body: Encodable>(_ path: String, _ body: Body, _ type: T.Type) async throws -> T {
        try await send(.POST, path, body: try APICoding.encoder.encode(body), type)
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?, _ type: T.Type) async throws -> T
    {
        var request = HTTPClientRequest(url: base + "/api/v1/" + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw CommandError("cannot reach the controller at \(base): \(error)")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 256 << 20))
        guard response.status.code < 300 else {
            if response.status.code == 401 {
                throw CommandError("the controller at \(base) refused the API token (401); pass --api-token")
            }
            let message = (try? APICoding.decoder.decode([String: String].self, from: data))?["error"]
            throw CommandError(message ?? "the controller answered HTTP \(response.status.code)")
        }
        return try APICoding.decoder.decode(type, from: data)
    }

    static func query(_ items: [String: String?]) -> String {
        var components = URLComponents()
        components.queryItems = items.sorted { $0.key < $1.key }.compactMap { key, value in
            value.map { URLQueryItem(name: key, value: $0) }
        }
        return components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? ""
    }
}
