import Foundation

/// The API token of a controller started without `--api-token`: generated once (32 random bytes,
/// hex) into `<state>/api-token`, readable by its owner only, and kept across restarts, so the
/// API and the web UI are never open without a token. `--api-token file:<state>/api-token` gives
/// it to the commands.
enum GeneratedToken {
    static func path(stateDirectory: String) -> String { stateDirectory + "/api-token" }

    static func load(stateDirectory: String) throws -> String {
        let path = path(stateDirectory: stateDirectory)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let token = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return token }
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        fchmod(descriptor, 0o600)
        let line = Array((token + "\n").utf8)
        guard write(descriptor, line, line.count) == line.count else {
            throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return token
    }
}
