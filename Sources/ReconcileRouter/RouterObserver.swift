import Foundation

/// One HTTP request the router answered (or failed to).
public struct RequestRecord: Sendable {
    /// The App and port name of the route; empty for requests no route took (unknown host, redirect).
    public var app: String
    public var port: String
    public var publish: Int
    public var method: String
    public var uri: String
    public var host: String
    public var status: Int
    /// From the request head to the response's end.
    public var duration: Duration
    public var responseBytes: Int
    /// The replica that answered (container id), if one did.
    public var backend: String?
    /// Attempts beyond the first (a replica that refused or reset before answering).
    public var retries: Int
    public var client: String
    public var requestID: String
    public var accessLog: Bool
    /// When the request's head arrived (the access log line's time).
    public var time: Date

    /// The access log line: `client "METHOD URI" status bytes duration host replica id`.
    public var logLine: String {
        let millis = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return "\(client) \"\(method) \(uri)\" \(status) \(responseBytes) \(String(format: "%.1f", millis))ms "
            + "host=\(host.isEmpty ? "-" : host) replica=\(backend.map { String($0.prefix(12)) } ?? "-") "
            + "retries=\(retries) id=\(requestID)"
    }
}

/// Receives what the router counts: it is called on event loops, so it must be quick and thread safe.
public protocol RouterObserver: Sendable {
    func finished(_ request: RequestRecord)
    /// A client connection opened (+1) or closed (-1) on a published port.
    func connections(publish: Int, delta: Int)
}

/// Counts nothing.
public struct SilentRouterObserver: RouterObserver {
    public init() {}
    public func finished(_ request: RequestRecord) {}
    public func connections(publish: Int, delta: Int) {}
}
