import Foundation

/// The tests' SMTP server (`Tests/oracles/smtp_receiver.py`, aiosmtpd): it binds its own port and
/// says which, so no test races another for a port. Deliveries land in `folder/deliveries`, one
/// mail per Message-ID in `folder/mailbox`.
public struct SMTPReceiver: Sendable {
    public let process: ChildProcess
    public let port: Int
    public let folder: String

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Tests/oracles/smtp_receiver.py"
        ).path

    /// Starts the server; `options` are the script's flags (`--delay-first 60`, `--auth u:p`, ...).
    /// - Parameter reserved: a bound, not listening socket (`Loopback.refusingPort`) to listen on;
    ///   the server inherits it, and the caller closes its own copy afterwards.
    public static func start(
        folder: String, options: [String] = [], reserved: Int32? = nil
    ) async throws
        -> SMTPReceiver
    {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let log = folder + "/server.log"
        // The reserved socket becomes the server's descriptor 3.
        let inherited = reserved.map { _ in ["--fd", "3"] } ?? []
        let server = try await LoopbackServer.start(
            ["/usr/bin/python3", script, "0", folder] + inherited + options, output: log, passing: reserved)
        return SMTPReceiver(process: server.process, port: server.port, folder: folder)
    }

    /// Every delivery, in order (a resend counts again).
    public func deliveries() -> [String] { read("deliveries") }

    /// The mails, one per Message-ID.
    public func mails() -> [String] { read("mailbox") }

    /// True once the first message was stored and its reply is held back (`--delay-first`).
    public var windowOpen: Bool { FileManager.default.fileExists(atPath: folder + "/window-open") }

    public func stop() { process.signal(SIGTERM) }

    private func read(_ name: String) -> [String] {
        let path = folder + "/" + name
        // Only whole mails: the server writes `N.eml.partial` and renames it when complete.
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
            $0.hasSuffix(".eml")
        }.sorted {
            $0.localizedStandardCompare($1) == .orderedAscending
        }
        return names.compactMap { try? String(contentsOfFile: path + "/" + $0, encoding: .utf8) }
    }
}
