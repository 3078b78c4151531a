import CSpawn

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The one way reconcile starts a host command (checks, probe `exec`, the process driver's shim,
/// the shim's workload, signature verifiers). The child gets exactly descriptors 0, 1 and 2 —
/// every other descriptor is closed in the child before `exec` (the controller's listening
/// sockets, its database, the shim's log) — an environment built from what the caller passes
/// (never the caller's own), default signal dispositions with nothing blocked (the controller
/// ignores SIGPIPE; a child must not inherit that), and its own process group or session, so
/// the whole tree can be signalled at once.
public enum Spawn {
    public enum Input: Sendable, Hashable {
        case null
        /// A descriptor of the caller's, duplicated onto the child's 0.
        case descriptor(Int32)
        /// A file opened read-only.
        case file(String)
    }

    public enum Output: Sendable, Hashable {
        case null
        case descriptor(Int32)
        /// A file created (0600, never through a symbolic link; `exclusive` refuses an existing
        /// one), appended to or truncated.
        case file(String, append: Bool, exclusive: Bool)
        /// Only for stderr: the same as stdout.
        case stdout
    }

    public enum Grouping: Sendable, Hashable {
        /// A new process group whose id is the child's pid.
        case processGroup
        /// A new session (and process group): the child has no controlling terminal.
        case session
    }

    public struct Request: Sendable {
        public var argv: [String]
        public var environment: [String: String]
        public var directory: String?
        public var stdin: Input
        public var stdout: Output
        public var stderr: Output
        public var grouping: Grouping

        public init(
            argv: [String], environment: [String: String], directory: String? = nil, stdin: Input = .null,
            stdout: Output = .null, stderr: Output = .null, grouping: Grouping = .processGroup
        ) {
            self.argv = argv
            self.environment = environment
            self.directory = directory
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.grouping = grouping
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var program: String
        public var code: Int32
        public var description: String {
            "cannot run \(program): \(String(cString: strerror(code)))"
        }
    }

    /// PATH and LANG of this process (PATH defaulted), plus `declared`: the environment a child
    /// starts from. Nothing else of the caller's environment reaches a child.
    public static func environment(declaring declared: [String: String] = [:]) -> [String: String] {
        var environment: [String: String] = [:]
        environment["PATH"] = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        if let lang = getenv("LANG") { environment["LANG"] = String(cString: lang) }
        for (key, value) in declared { environment[key] = value }
        return environment
    }

    /// Starts the request's command (looked up on the child's PATH when it has no `/`); the pid.
    public static func start(_ request: Request) throws(Failure) -> pid_t {
        guard let program = request.argv.first, !program.isEmpty else {
            throw Failure(program: "(empty command)", code: EINVAL)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var result: Int32 = 0
        func check(_ code: Int32) {
            if result == 0, code != 0 { result = code }
        }
        switch request.stdin {
        case .null: check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0))
        case .descriptor(let fd): check(posix_spawn_file_actions_adddup2(&actions, fd, 0))
        case .file(let path): check(posix_spawn_file_actions_addopen(&actions, 0, path, O_RDONLY | O_NOFOLLOW, 0))
        }
        func output(_ target: Output, to fd: Int32) {
            switch target {
            case .null: check(posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0))
            case .descriptor(let source): check(posix_spawn_file_actions_adddup2(&actions, source, fd))
            case .file(let path, let append, let exclusive):
                let flags =
                    O_WRONLY | O_CREAT | O_NOFOLLOW | (append ? O_APPEND : O_TRUNC) | (exclusive ? O_EXCL : 0)
                check(posix_spawn_file_actions_addopen(&actions, fd, path, flags, 0o600))
            case .stdout: check(posix_spawn_file_actions_adddup2(&actions, 1, fd))
            }
        }
        output(request.stdout, to: 1)
        output(request.stderr, to: 2)
        check(reconcile_spawn_addclosefrom(&actions, 3))
        if let directory = request.directory { check(reconcile_spawn_addchdir(&actions, directory)) }
        guard result == 0 else { throw Failure(program: program, code: result) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var flags = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        switch request.grouping {
        case .processGroup:
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int16(POSIX_SPAWN_SETPGROUP)
        case .session:
            flags |= reconcile_spawn_setsid_flag()
        }
        posix_spawnattr_setflags(&attributes, flags)

        let argv: [UnsafeMutablePointer<CChar>?] = request.argv.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?] =
            request.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        // posix_spawnp looks the program up on the PATH of this process; a child's own PATH decides.
        let path = program.contains("/") ? program : lookUp(program, in: request.environment["PATH"]) ?? program
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw Failure(program: program, code: spawned) }
        return pid
    }

    /// The first executable `program` on `path` (a colon-separated list).
    static func lookUp(_ program: String, in path: String?) -> String? {
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = directory + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

extension Spawn {
    /// A descriptor of an anonymous in-memory file holding `bytes`, positioned at its start: a
    /// child's stdin that carries secrets without a file on disk and without a pipe a writer could
    /// block on. The caller closes it after the spawn.
    public static func memoryFile(_ bytes: [UInt8], name: String) -> Int32? {
        let fd = reconcile_memfd_create(name)
        guard fd >= 0 else { return nil }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else {
                close(fd)
                return nil
            }
            offset += written
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}
