import CSpawn
import Foundation

/// A long-running program started by a test (posix_spawn), output to a file, reaped with waitpid.
/// Foundation's `Process` can miss the exit of a child that runs while the test does other work, so
/// tests that signal a child and wait for its status use this instead.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private var status: Int32?
    /// A controller's state directory: when this object goes, the process-node workloads started
    /// under it are ended too (see `ProcessWorkloads`), also when the test failed half-way.
    private let workloadsUnder: String?

    /// Starts `arguments[0]` (an absolute path) with stdout and stderr appended to `output`.
    /// - Parameter endsWorkloadsUnder: for a controller, its `--state`: its workloads end with it.
    /// - Parameter passing: a descriptor of the test's the child gets as its descriptor 3 (every
    ///   other one beyond stderr is closed in the child).
    /// - Parameter environment: added to the test process's environment for the child (tests never
    ///   change their own environment: see `TestSecrets`).
    public init(
        _ arguments: [String], output: String, endsWorkloadsUnder: String? = nil, passing: Int32? = nil,
        environment: [String: String] = [:]
    ) throws {
        workloadsUnder = endsWorkloadsUnder
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the test process: a pipe of another test's command inherited by this
        // long-lived child would never see its end, and that test would wait forever.
        if let passing { posix_spawn_file_actions_adddup2(&actions, passing, 3) }
        guard reconcile_spawn_addclosefrom(&actions, passing == nil ? 3 : 4) == 0 else {
            throw FixtureError("cannot set up closing descriptors for \(arguments[0])")
        }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard result == 0 else {
            throw FixtureError("cannot start \(arguments[0]): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    public func signal(_ number: Int32) { kill(pid, number) }

    /// The exit status once the child has exited (nil while it runs); a signal death is 128 + signal.
    public func exitStatus() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        let signalled = raw & 0x7f
        status = signalled == 0 ? (raw >> 8) & 0xff : 128 + signalled
        return status
    }

    /// Waits up to `timeout` seconds for the exit status.
    public func wait(timeout: TimeInterval) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = exitStatus() { return status }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return exitStatus()
    }

    deinit {
        if exitStatus() == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        if let workloadsUnder { ProcessWorkloads.endAll(under: workloadsUnder) }
    }
}
