import Foundation

/// A test server program that binds its own loopback port and prints
/// "listening on 127.0.0.1:PORT" (the oracles under Tests/oracles do): started, and its port read
/// from its output, so no test races another for a port.
public struct LoopbackServer: Sendable {
    public let process: ChildProcess
    public let port: Int

    /// - Parameter passing: a descriptor the server gets as its descriptor 3.
    public static func start(
        _ arguments: [String], output: String, timeout: TimeInterval = 60, passing: Int32? = nil
    ) async throws
        -> LoopbackServer
    {
        let process = try ChildProcess(arguments, output: output, passing: passing)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on 127.0.0.1:") }),
                let port = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                return LoopbackServer(process: process, port: port)
            }
            if let status = process.exitStatus() {
                throw FixtureError("\(arguments.prefix(2).joined(separator: " ")) exited (\(status)): \(text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("\(arguments.prefix(2).joined(separator: " ")) did not report a port within \(timeout)s")
    }

    public func stop() { process.signal(SIGTERM) }
}
