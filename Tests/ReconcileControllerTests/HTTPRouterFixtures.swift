import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ReconcileModel
import ReconcileRouter
import ReconcileTesting
import Synchronization

/// Keeps what the router reports.
final class RecordingObserver: RouterObserver {
    private let state = Mutex<(records: [RequestRecord], opened: Int, open: Int)>(([], 0, 0))

    func finished(_ request: RequestRecord) { state.withLock { $0.records.append(request) } }

    func connections(publish: Int, delta: Int) {
        state.withLock { state in
            if delta > 0 { state.opened += delta }
            state.open += delta
        }
    }

    var records: [RequestRecord] { state.withLock { $0.records } }
    /// Client connections the router accepted so far.
    var opened: Int { state.withLock { $0.opened } }
}

/// An http-mode port for the router: one route per (app, hosts, backends).
func httpPort(_ routes: [Route], redirects: [Redirect] = []) -> PublishedPort {
    PublishedPort(mode: .http, routes: routes, redirects: redirects)
}

/// Makes the router serve `published` on a free port (retrying a port another test took first).
func serving(_ router: Router, _ published: PublishedPort) async throws -> Int {
    var errors: [String] = []
    for _ in 0..<20 {
        let port = try Loopback.freePort()
        errors = await router.update(ports: [port: published])
        if errors.isEmpty { return port }
    }
    throw FixtureError("the router found no port to listen on: \(errors)")
}

/// An HTTP client whose pool keeps at most `connections` keep-alive connections per host.
func keepAliveClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
        idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
    configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

/// A GET (or other method) through the client; returns status and body.
func send(
    _ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
    body: ByteBuffer? = nil
) async throws -> (status: Int, body: String) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(body) }
    let response = try await client.execute(request, timeout: .seconds(60))
    let collected = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), String(buffer: collected))
}

/// Raw bytes over a plain socket, for what an HTTP client library will not send.
enum RawHTTP {
    /// Sends `text` (in `drip`-sized pieces `pause` seconds apart, when set) and reads until the
    /// server closes or `timeout` passes. `closed` is true when the server ended the connection.
    static func exchange(
        port: Int, _ text: String, timeout: TimeInterval = 60, drip: Int = 0, pause: TimeInterval = 0
    ) async -> (text: String, closed: Bool) {
        await Blocking.run {
            guard let fd = Loopback.connected(port: port) else { return ("refused", true) }
            defer { close(fd) }
            var limit = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let bytes = Array(text.utf8)
            let deadline = Date().addingTimeInterval(timeout)
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65536)
            func readSome(blocking: Bool) -> Bool {
                let count = recv(fd, &buffer, buffer.count, blocking ? 0 : Int32(MSG_DONTWAIT))
                if count > 0 {
                    received += buffer[0..<count]
                    return false
                }
                return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            }
            var offset = 0
            while offset < bytes.count {
                let piece = drip > 0 ? min(drip, bytes.count - offset) : bytes.count - offset
                let sent = bytes[offset..<offset + piece].withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress, piece, Int32(MSG_NOSIGNAL))
                }
                if sent <= 0 { return (String(decoding: received, as: UTF8.self), true) }
                offset += sent
                if pause > 0 {
                    usleep(useconds_t(pause * 1_000_000))
                    if readSome(blocking: false) { return (String(decoding: received, as: UTF8.self), true) }
                    if Date() > deadline { return (String(decoding: received, as: UTF8.self), false) }
                }
            }
            while Date() < deadline {
                if readSome(blocking: true) { return (String(decoding: received, as: UTF8.self), true) }
            }
            return (String(decoding: received, as: UTF8.self), false)
        }
    }
}

extension RawHTTP {
    /// A conversation over one plain socket: each step sends its text, then reads until what it
    /// read contains `until` (nil: until the server closes), the server closes, or `timeout` passes.
    /// Returns what each step read and whether the server closed the connection.
    static func conversation(
        port: Int, _ steps: [(send: String, until: String?)], timeout: TimeInterval = 30
    ) async -> (replies: [String], closed: Bool) {
        await Blocking.run {
            guard let fd = Loopback.connected(port: port) else { return ([], true) }
            defer { close(fd) }
            var limit = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var replies: [String] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            for step in steps {
                let bytes = Array(step.send.utf8)
                let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
                if sent != bytes.count { return (replies, true) }
                var received = [UInt8]()
                let deadline = Date().addingTimeInterval(timeout)
                var closed = false
                while Date() < deadline {
                    if let until = step.until, String(decoding: received, as: UTF8.self).contains(until) { break }
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count > 0 {
                        received += buffer[0..<count]
                    } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                        closed = true
                        break
                    }
                }
                replies.append(String(decoding: received, as: UTF8.self))
                if closed { return (replies, true) }
            }
            return (replies, false)
        }
    }
}

/// A server that accepts connections and closes each as soon as it sends anything: a replica that
/// resets before answering.
struct ClosingServer {
    let port: Int
    let channel: any Channel

    static func start() async throws -> ClosingServer {
        final class CloseOnRead: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.close(promise: nil) }
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CloseOnRead()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ClosingServer(port: channel.localAddress!.port!, channel: channel)
    }

    func backend(_ id: String = "closing") -> Backend { Backend(id: id, host: "127.0.0.1", port: port) }
}

extension HTTPTestBackend {
    var backend: Backend { Backend(id: name, host: "127.0.0.1", port: port) }
}

/// A GET over TLS to 127.0.0.1:port naming `host` in SNI and checking the certificate against the
/// CA and that host name; returns the body.
func tlsGet(port: Int, host: String, path: String = "/", ca: String) async throws -> String {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .file(ca)
    configuration.certificateVerification = .fullVerification
    let context = try NIOSSLContext(configuration: configuration)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    try NIOSSLClientHandler(context: context, serverHostname: host))
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                    wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        var headers = HTTPHeaders([("Host", host)])
        headers.add(name: "Connection", value: "close")
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
        try await outbound.write(.end(nil))
        var body = ""
        for try await part in inbound {
            if case .body(let buffer) = part { body += String(buffer: buffer) }
            if case .end = part { break }
        }
        return body
    }
}

/// A WebSocket text frame from a client (masked, as RFC 6455 requires).
func maskedTextFrame(_ text: String) -> [UInt8] {
    let payload = Array(text.utf8)
    let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
    var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)]
    frame += mask
    for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
    return frame
}

/// Waits (polling every 10 ms) until `condition` holds or `seconds` passed; returns whether it held.
/// Every wait in these tests is bounded: a condition that never comes fails the test, it does not hang it.
func eventually(_ seconds: TimeInterval = 120, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
