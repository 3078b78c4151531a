import NIOSSL
import Synchronization

/// The certificates of a TLS port, by host name, swapped when the routes change; the TLS handshake
/// picks one by the client's SNI name (the first route's when it names none the port serves).
final class Certificates: Sendable {
    struct Loaded: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
    }

    private struct State {
        var byHost: [String: Loaded] = [:]
        var fallback: Loaded?
        var parsed: [CertificatePEM: Loaded] = [:]
    }

    private let state = Mutex(State())

    /// Loads the routes' certificates; returns one message per route whose PEM does not parse.
    func set(_ routes: [Route]) -> [String] {
        var errors: [String] = []
        state.withLock { state in
            var byHost: [String: Loaded] = [:]
            var fallback: Loaded?
            var parsed: [CertificatePEM: Loaded] = [:]
            for route in routes {
                guard let pem = route.certificate else { continue }
                let loaded: Loaded
                if let known = state.parsed[pem] ?? parsed[pem] {
                    loaded = known
                } else {
                    do {
                        loaded = Loaded(
                            chain: try NIOSSLCertificate.fromPEMBytes(Array(pem.chain.utf8)),
                            key: try NIOSSLPrivateKey(bytes: Array(pem.key.utf8), format: .pem))
                    } catch {
                        errors.append(
                            "app \(route.app) port \(route.port): the TLS certificate or key does not load: \(error)")
                        continue
                    }
                }
                parsed[pem] = loaded
                if fallback == nil || route.hosts.isEmpty { fallback = loaded }
                for host in route.hosts { byHost[host] = loaded }
            }
            state = State(byHost: byHost, fallback: fallback, parsed: parsed)
        }
        return errors
    }

    var isEmpty: Bool { state.withLock { $0.fallback == nil } }

    func lookup(_ host: String?) -> Loaded? {
        state.withLock { state in
            let name = host?.lowercased()
            return name.flatMap { state.byHost[$0] } ?? state.fallback
        }
    }

    /// A server context whose certificate is chosen per handshake by SNI.
    func context() throws -> NIOSSLContext {
        guard let first = lookup(nil) else { throw NIOSSLError.failedToLoadPrivateKey }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.chain.map { .certificate($0) }, privateKey: .privateKey(first.key))
        configuration.applicationProtocols = ["http/1.1"]
        configuration.sslContextCallback = { [self] values, promise in
            guard let chosen = lookup(values.serverHostname) else {
                promise.succeed(.noChanges)
                return
            }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = chosen.chain.map { .certificate($0) }
            override.privateKey = .privateKey(chosen.key)
            promise.succeed(override)
        }
        return try NIOSSLContext(configuration: configuration)
    }
}
