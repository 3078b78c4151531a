import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ReconcileDrivers
import ReconcileModel

/// Runs one health probe of an App's replica: an HTTP GET expecting a status, a TCP connect, or a
/// command inside the container, each bounded by the probe's timeout.
public enum HealthProbe {
    public enum Outcome: Sendable, Hashable {
        case healthy
        case unhealthy(String)
    }

    public static func run(
        _ health: HealthSpec, app: AppSpec, container: ContainerInfo, driver: any ContainerDriver
    ) async -> Outcome {
        let timeout = health.timeout
        switch health.probe {
        case .http(let port, let path, let expect):
            guard let hostPort = hostPort(named: port, app: app, container: container) else {
                return .unhealthy("port \(port) is not published on the node")
            }
            let url = "http://\(container.hostAddress):\(hostPort)\(path.hasPrefix("/") ? path : "/" + path)"
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                // Each probe opens its own connection, as the kubelet's do: one kept alive in the
                // client's pool would pass while the replica no longer accepts connections, and
                // would hold a connection to whatever listens on that port for a minute.
                request.headers.add(name: "Connection", value: "close")
                let response = try await HTTPClient.shared.execute(
                    request, timeout: .milliseconds(timeout.milliseconds))
                _ = try? await response.body.collect(upTo: 1 << 20)
                let code = Int(response.status.code)
                return code == expect ? .healthy : .unhealthy("GET \(path) answered \(code), expected \(expect)")
            } catch {
                return .unhealthy("GET \(path) failed: \(error)")
            }
        case .tcp(let port):
            guard let hostPort = hostPort(named: port, app: app, container: container) else {
                return .unhealthy("port \(port) is not published on the node")
            }
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(timeout.milliseconds))
                    .connect(host: container.hostAddress, port: hostPort).get()
                try? await channel.close()
                return .healthy
            } catch {
                return .unhealthy("cannot connect to port \(port): \(error)")
            }
        case .command(let argv):
            do {
                let code = try await driver.exec(container.id, command: argv, timeout: timeout)
                return code == 0 ? .healthy : .unhealthy("command exited \(code)")
            } catch {
                return .unhealthy("command failed: \(error)")
            }
        }
    }

    /// The node's host port for the App's port called `name`.
    static func hostPort(named name: String, app: AppSpec, container: ContainerInfo) -> Int? {
        guard let inside = app.ports.first(where: { $0.name == name })?.container else { return nil }
        return container.ports[inside]
    }
}
