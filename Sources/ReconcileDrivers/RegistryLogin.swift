import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import ReconcileModel
import ReconcileSecrets

/// The controller's own look at a `Registry`: `GET /v2/` with the credentials (Basic auth, over
/// HTTPS trusting `ca` when given), so wrong credentials or an unreachable registry are reported
/// when the commit is applied, before the first pull fails on a node. Registries that hand out
/// tokens (`Bearer` challenges) are only checked for reachability: the engines negotiate tokens.
public enum RegistryLogin {
    public enum Outcome: Sendable, Hashable, CustomStringConvertible {
        case accepted
        /// The registry answers but asks for a token: the engines log in with the credentials.
        case tokenAuth
        case refused(status: Int)
        case unreachable(String)
        case secret(String)

        public var description: String {
            switch self {
            case .accepted: "credentials accepted"
            case .tokenAuth: "answers (token authentication; the nodes log in when they pull)"
            case .refused(let status): "credentials refused (HTTP \(status)); pulls from it will fail"
            case .unreachable(let why): "does not answer from the controller host (\(why))"
            case .secret(let why): "password cannot be read: \(why)"
            }
        }
    }

    public static func check(_ registry: RegistrySpec, timeout: TimeAmount = .seconds(10)) async -> Outcome {
        let password: String
        do {
            password = try SecretReader.read(registry.password)
        } catch {
            return .secret("\(error)")
        }
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = registry.ca { tls.trustRoots = .file(ca) }
        configuration.tlsConfiguration = tls
        configuration.timeout = .init(connect: timeout, read: timeout)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { client.shutdown { _ in } }
        var request = HTTPClientRequest(url: "https://\(registry.server)/v2/")
        let basic = Data("\(registry.username):\(password)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(basic)")
        do {
            let response = try await client.execute(request, timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 << 10)
            switch response.status.code {
            case 200..<300: return .accepted
            case 401 where response.headers["WWW-Authenticate"].contains { $0.lowercased().hasPrefix("bearer") }:
                return .tokenAuth
            default: return .refused(status: Int(response.status.code))
            }
        } catch {
            return .unreachable(String(describing: error))
        }
    }
}
