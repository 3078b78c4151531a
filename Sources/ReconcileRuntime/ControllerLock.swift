import Foundation

/// One controller per state directory: an exclusive lock on `<state>/controller.lock`, held for the
/// life of the process (the kernel releases it when the process dies, also on SIGKILL). The file
/// holds the holder's pid, for the message another controller gets.
public final class ControllerLock: Sendable {
    private let descriptor: Int32

    public struct Busy: Error, CustomStringConvertible {
        public var description: String
    }

    public init(stateDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let path = stateDirectory + "/controller.lock"
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Busy(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines)
            close(descriptor)
            throw Busy(
                description:
                    "another reconcile controller (pid \(holder.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown")) "
                    + "runs on the state directory \(stateDirectory); stop it first, or give this one its own --state")
        }
        ftruncate(descriptor, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
