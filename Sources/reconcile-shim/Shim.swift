import ReconcileShimCore
import ReconcileSpawn

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

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

    /// The longest line written to output.log: a longer one is split into pieces of this many bytes
    /// (at a UTF-8 character boundary), so a workload that never writes a newline costs bounded
    /// memory and linear time.
    static let maxLineBytes = 64 * 1024
    /// output.log is renamed to output.log.1 (replacing the previous one) when it grows past this.
    static let maxLogBytes: Int64 = 64 << 20

    /// The workload's environment, which the driver passes on stdin (an in-memory file; at most
    /// 16 MiB read), never on disk. Stdin is /dev/null afterwards.
    static func readEnvironment() -> [String: String]? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while data.count < 16 << 20 {
            let count = read(0, &chunk, chunk.count)
            if count <= 0 { break }
            data.append(contentsOf: chunk[0..<count])
        }
        let null = open("/dev/null", O_RDONLY)
        if null > 0 {
            dup2(null, 0)
            close(null)
        }
        guard !data.isEmpty else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: Data(data))
    }

    /// A line on stderr, then exit status 2.
    static func complain(_ text: String) -> Never {
        let line = Array((text + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }

    static func run() {
        guard CommandLine.arguments.count == 2 else {
            complain("usage: reconcile-shim FOLDER")
        }
        let folder = CommandLine.arguments[1]
        guard let launch = ProcessRecords.read(ProcessRecords.Launch.self, from: folder + "/launch.json"),
            !launch.argv.isEmpty
        else {
            complain("reconcile-shim: cannot read \(folder)/launch.json")
        }
        let declared = readEnvironment() ?? launch.env
        setsid()  // the driver starts the shim in a session of its own; this covers a direct start
        // The process runs in its own folder (as `exec` commands do), never in the controller's.
        _ = chdir(folder)
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
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

        let log = LogFile(path: folder + "/output.log", limit: maxLogBytes)
        func append(_ stream: String, _ text: String) {
            log.write(ProcessRecords.logLine(time: Date(), stream: stream, text: text))
        }
        if let warning { append("stderr", "reconcile: warning: \(warning)") }

        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        pipe(&out)
        pipe(&err)
        // Without cgroups, util-linux prlimit applies the memory limit as RLIMIT_AS to the process itself.
        let command = cgroup == nil ? ["prlimit", "--as=\(launch.memoryBytes)", "--"] + launch.argv : launch.argv
        var child: pid_t = 0
        var spawned: Int32 = 0
        // The controller's umask (077) keeps its own files private; the workload starts with the
        // usual 022, as in a container. (The shim runs one thread: nothing else creates a file
        // while the mask is changed.)
        let privateMask = umask(0o022)
        do {
            child = try Spawn.start(
                Spawn.Request(
                    argv: command, environment: Spawn.environment(declaring: declared), directory: folder,
                    stdout: .descriptor(out[1]), stderr: .descriptor(err[1])))
        } catch {
            spawned = error.code
        }
        umask(privateMask)
        close(out[1])
        close(err[1])
        // The shim must outlive an OOM kill of its workload to report it, so its score is lowered —
        // after the spawn, so the workload keeps the score the shim was started with, and not to
        // -1000, so that a shim gone wrong can still be reclaimed.
        let adjust = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)
        if adjust >= 0 {
            _ = write(adjust, "-900", 4)
            close(adjust)
        }
        if spawned == 0, let group = cgroup {
            do {
                try group.join(child)
            } catch {
                append(
                    "stderr",
                    "reconcile: warning: cannot join cgroup (\(error)); limits not applied")
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
            exit(0)
        }
        var running = ProcessRecords.State(
            status: "running", shimPID: shimPID, shimStartTime: shimStart, pid: child, startedAt: started,
            limits: limits, warning: warning)
        running.pidStartTime = ProcessRecords.startTime(of: child)
        try? ProcessRecords.write(running, to: folder + "/state.json")

        // Copy both pipes into the log, line by line, until the process has exited and the pipes are drained.
        var splitters: [Int32: LineSplitter] = [
            out[0]: LineSplitter(limit: maxLineBytes), err[0]: LineSplitter(limit: maxLineBytes),
        ]
        var openFDs: Set<Int32> = [out[0], err[0]]
        var status: Int32 = 0
        var exited = false
        func flush(_ fd: Int32, all: Bool) {
            let stream = fd == out[0] ? "stdout" : "stderr"
            splitters[fd]?.take(all: all) { append(stream, $0) }
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
                        splitters[entry.fd]?.append(chunk[0..<count])
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
        var final = ProcessRecords.State(
            status: "exited", shimPID: shimPID, shimStartTime: shimStart, pid: child, startedAt: started,
            finishedAt: Date(), exitCode: code, oomKilled: oom, limits: limits, warning: warning)
        final.pidStartTime = running.pidStartTime
        try? ProcessRecords.write(final, to: folder + "/state.json")
        // Wakes the controller's DAG runner at once instead of at its next poll.
        // The folder is the driver's root and the container's id.
        let parts = folder.split(separator: "/", omittingEmptySubsequences: false)
        ExitNoticeSocket.notify(root: parts.dropLast().joined(separator: "/"), id: String(parts.last ?? ""))
        log.close()
        cgroup?.remove()
        exit(0)

    }
}
