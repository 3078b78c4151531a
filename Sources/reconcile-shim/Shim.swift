import Foundation
import ReconcileDrivers

// reconcile-shim FOLDER
//
// The parent of one process "container" of the process driver, like a container runtime's shim:
// it leaves the controller's session, applies limits (cgroups, else rlimits), starts argv in its own
// process group with stdout/stderr on pipes, writes every line with a timestamp to output.log,
// records the exit (code, time, OOM kill) in state.json, and kills what is left of the process
// group when the main process ends. It outlives the controller, so a restarted controller finds
// its processes running and their logs complete.

@main
enum Shim {
    static func main() {
        run()
    }

    /// Closes every descriptor above stderr the shim inherited (the controller's listening sockets,
    /// its database), so that neither the shim nor the workload keeps them open.
    static func closeInheritedDescriptors() {
        guard let directory = opendir("/proc/self/fd") else { return }
        let own = dirfd(directory)
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if let fd = Int32(name), fd > 2, fd != own { descriptors.append(fd) }
        }
        closedir(directory)
        for fd in descriptors { close(fd) }
    }

    static func run() {
        closeInheritedDescriptors()
        guard CommandLine.arguments.count == 2 else {
            FileHandle.standardError.write(Data("usage: reconcile-shim FOLDER\n".utf8))
            Foundation.exit(2)
        }
        let folder = CommandLine.arguments[1]
        guard let launch = ProcessRecords.read(ProcessRecords.Launch.self, from: folder + "/launch.json"),
            !launch.argv.isEmpty
        else {
            FileHandle.standardError.write(Data("reconcile-shim: cannot read \(folder)/launch.json\n".utf8))
            Foundation.exit(2)
        }
        setsid()
        // The process runs in its own folder (as `exec` commands do), never in the controller's.
        _ = FileManager.default.changeCurrentDirectoryPath(folder)
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        // The shim must survive the OOM killer so that it can report the kill.
        let adjust = open("/proc/self/oom_score_adj", O_WRONLY)
        if adjust >= 0 {
            _ = write(adjust, "-1000", 5)
            close(adjust)
        }

        let shimPID = getpid()
        let shimStart = ProcessRecords.startTime(of: shimPID) ?? 0
        var limits = "rlimit"
        var warning: String?
        var cgroup: ProcessCgroup?
        let attempt: Result<ProcessCgroup, ProcessCgroup.Unavailable> =
            if let name = launch.cgroup {
                ProcessCgroup.create(name: name, memoryBytes: launch.memoryBytes, cpuMillicores: launch.cpuMillicores)
            } else {
                .failure(ProcessCgroup.Unavailable(reason: "cgroups are turned off for this node"))
            }
        switch attempt {
        case .success(let group):
            // The process joins right after it is spawned; the shim stays outside so the OOM killer
            // never picks it.
            cgroup = group
            limits = "cgroup v\(group.version)"
        case .failure(let unavailable):
            warning = unavailable.reason + "; memory is limited with RLIMIT_AS, cpu is not limited"
        }

        let log = open(folder + "/output.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        func append(_ stream: String, _ text: String) {
            let line = ProcessRecords.logLine(time: Date(), stream: stream, text: text)
            _ = line.withCString { write(log, $0, strlen($0)) }
        }
        if let warning { append("stderr", "reconcile: warning: \(warning)") }

        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        pipe(&out)
        pipe(&err)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        for fd in [out[0], out[1], err[0], err[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGHUP)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var environment = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "LANG" }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for (key, value) in launch.env { environment[key] = value }
        // Without cgroups, util-linux prlimit applies the memory limit as RLIMIT_AS to the process itself.
        let command = cgroup == nil ? ["prlimit", "--as=\(launch.memoryBytes)", "--"] + launch.argv : launch.argv
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var child: pid_t = 0
        let spawned = posix_spawnp(&child, command[0], &actions, &attributes, argv, envp)
        close(out[1])
        close(err[1])
        if spawned == 0, let group = cgroup {
            do {
                try group.join(child)
            } catch {
                append(
                    "stderr",
                    "reconcile: warning: cannot join cgroup (\(error.localizedDescription)); limits not applied")
            }
        }
        let started = Date()
        if spawned != 0 {
            append("stderr", "reconcile: cannot start \(launch.argv[0]): \(String(cString: strerror(spawned)))")
            try? ProcessRecords.write(
                ProcessRecords.State(
                    status: "exited", shimPID: shimPID, shimStartTime: shimStart, pid: 0, startedAt: started,
                    finishedAt: Date(),
                    exitCode: 127, limits: limits, warning: warning), to: folder + "/state.json")
            cgroup?.remove()
            Foundation.exit(0)
        }
        try? ProcessRecords.write(
            ProcessRecords.State(
                status: "running", shimPID: shimPID, shimStartTime: shimStart, pid: child, startedAt: started,
                limits: limits,
                warning: warning), to: folder + "/state.json")

        // Copy both pipes into the log, line by line, until the process has exited and the pipes are drained.
        var buffers: [Int32: [UInt8]] = [out[0]: [], err[0]: []]
        var openFDs: Set<Int32> = [out[0], err[0]]
        var status: Int32 = 0
        var exited = false
        func flush(_ fd: Int32, all: Bool) {
            guard var bytes = buffers[fd] else { return }
            let stream = fd == out[0] ? "stdout" : "stderr"
            while let newline = bytes.firstIndex(of: 0x0A) {
                append(stream, String(decoding: bytes[..<newline], as: UTF8.self))
                bytes.removeSubrange(...newline)
            }
            if all && !bytes.isEmpty {
                append(stream, String(decoding: bytes, as: UTF8.self))
                bytes.removeAll()
            }
            buffers[fd] = bytes
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var drainDeadline: Date?
        while !openFDs.isEmpty {
            var fds = openFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            if ready > 0 {
                for entry in fds where entry.revents != 0 {
                    let count = read(entry.fd, &chunk, chunk.count)
                    if count > 0 {
                        buffers[entry.fd, default: []].append(contentsOf: chunk[0..<count])
                        flush(entry.fd, all: false)
                    } else {
                        flush(entry.fd, all: true)
                        close(entry.fd)
                        openFDs.remove(entry.fd)
                    }
                }
            }
            if !exited, waitpid(child, &status, WNOHANG) == child {
                exited = true
                // Like a container: when the main process ends, the rest of its group goes too.
                kill(-child, SIGKILL)
                for member in cgroup?.members ?? [] { kill(member, SIGKILL) }
                drainDeadline = Date().addingTimeInterval(2)
            }
            if let drainDeadline, Date() > drainDeadline { break }  // an escaped grandchild holds a pipe open
        }
        for fd in openFDs { flush(fd, all: true) }
        if !exited { waitpid(child, &status, 0) }

        let signalled = status & 0x7F
        let code = signalled == 0 ? Int((status >> 8) & 0xFF) : 128 + Int(signalled)
        let oom = cgroup?.oomKilled ?? false
        try? ProcessRecords.write(
            ProcessRecords.State(
                status: "exited", shimPID: shimPID, shimStartTime: shimStart, pid: child, startedAt: started,
                finishedAt: Date(),
                exitCode: code, oomKilled: oom, limits: limits, warning: warning), to: folder + "/state.json")
        // Wakes the controller's DAG runner at once instead of at its next poll.
        let url = URL(fileURLWithPath: folder)
        ExitNotices.notify(root: url.deletingLastPathComponent().path, id: url.lastPathComponent)
        close(log)
        cgroup?.remove()
        Foundation.exit(0)

    }
}
