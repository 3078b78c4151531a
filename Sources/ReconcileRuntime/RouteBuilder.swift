import Foundation
import ReconcileModel
import ReconcileRouter
import ReconcileSecrets

/// The router's table from the desired Apps and their ready replicas: one route per published App
/// port (a published port with no ready replica still listens: requests wait for one), redirects
/// from a TLS port's `redirectFrom`, and certificates read from their secret references.
struct RouteBuilder {
    private let apps: [AppSpec]
    private var backends: [RouteKey: [Backend]] = [:]

    init(apps: [AppSpec]) { self.apps = apps }

    mutating func add(_ backend: Backend, app: String, port: String, publish: Int) {
        backends[RouteKey(publish: publish, app: app, port: port), default: []].append(backend)
    }

    /// The table, and one message per TLS port left out because its certificate cannot be read.
    func build(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> (
        [Int: PublishedPort], [String]
    ) {
        var published: [Int: PublishedPort] = [:]
        var errors: [String] = []
        var broken: Set<Int> = []
        for app in apps {
            for port in app.ports {
                guard let publish = port.publish else { continue }
                var route = Route(
                    app: app.name, port: port.name, hosts: port.mode == .http ? port.hosts : [],
                    backends: backends[RouteKey(publish: publish, app: app.name, port: port.name)] ?? [],
                    accessLog: port.mode == .http && port.accessLog)
                if port.mode == .http, let tls = port.tls {
                    do {
                        route.certificate = CertificatePEM(
                            chain: try SecretReader.read(tls.cert, environment: environment),
                            key: try SecretReader.read(tls.key, environment: environment))
                    } catch {
                        errors.append("app \(app.name) port \(port.name): \(error); port \(publish) is not served")
                        broken.insert(publish)
                    }
                    if let from = tls.redirectFrom {
                        published[from, default: PublishedPort(mode: .http, routes: [])].redirects.append(
                            Redirect(hosts: port.hosts, httpsPort: publish))
                    }
                }
                published[publish, default: PublishedPort(mode: port.mode, routes: [])].routes.append(route)
            }
        }
        for port in broken { published[port] = nil }
        return (published, errors)
    }
}
