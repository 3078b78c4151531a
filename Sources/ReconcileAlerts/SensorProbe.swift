import AsyncHTTPClient
import Foundation
import ReconcileModel

/// One poll of a sensor task's condition (`wait:`), from the controller's host: a file exists, an
/// HTTP GET answers the expected status (its own connection, `Connection: close`), or a command
/// exits 0 (spawned like a check's: descriptors closed, a minimal environment, its group killed at
/// the poll's timeout).
public enum SensorProbe {
    /// Whether the condition holds, and what the poll saw (for the attempt's error on timeout).
    public static func poll(_ sensor: SensorSpec) async -> (held: Bool, detail: String) {
        switch sensor.condition {
        case .file(let path):
            let exists = FileManager.default.fileExists(atPath: path)
            return (exists, exists ? "\(path) exists" : "\(path) does not exist")
        case .http(let url, let expect):
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                request.headers.add(name: "Connection", value: "close")
                let response = try await HTTPClient.shared.execute(
                    request, timeout: .milliseconds(sensor.pollTimeout.milliseconds))
                _ = try? await response.body.collect(upTo: 1 << 20)
                let code = Int(response.status.code)
                return (code == expect, "GET answered \(code), expected \(expect)")
            } catch {
                return (false, "GET failed: \(error)")
            }
        case .command(let argv):
            let (code, output) = await HostCommand.run(argv, timeout: sensor.pollTimeout)
            let last = output.split(separator: "\n").last.map { ": \($0.prefix(200))" } ?? ""
            return (code == 0, code.map { "exited \($0)\(last)" } ?? "did not finish\(last)")
        }
    }
}
