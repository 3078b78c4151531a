import Foundation
import ReconcileModel
import ReconcileShimCore
import ReconcileSpawn
import Synchronization

/// Runs argv as plain processes on this host, each under a `reconcile-shim` that outlives the
/// controller. A "container" is a folder `<state>/processes/<id>/` (see `ProcessRecords`); after a
/// restart the driver re-adopts running processes by the shim's pid plus start time, never starting
/// them again. Limits use cgroups (v2 or v1) where the host allows, else rlimits with a warning.
///
/// Ports: a process cannot be remapped, so each declared port gets a free host port from the
/// replica range (`HostPorts.replicaPort`, outside the kernel's ephemeral range), passed to the
/// process as `PORT_<port>` (e.g. `PORT_8080`); `ContainerInfo.ports` reports the mapping.
public final class ProcessDriver: ContainerDriver {
    public let node: String
    let root: String
    let shim: String
    let useCgroups: Bool
    private let metas = Mutex<[String: ProcessRecords.Meta]>([:])
    private let states = Mutex<[String: (version: [UInt64], state: ProcessRecords.State)]>([:])
    private let shims = ShimWatch()
    private let files: ProcessFiles

    /// - Parameters:
    ///   - stateDirectory: process folders live in `stateDirectory/processes`.
    ///   - shimPath: the `reconcile-shim` executable; default: next to the running executable.
    ///   - useCgroups: false limits memory with rlimits only (and cpu not at all), as on hosts without cgroups.
    public init(node: String, stateDirectory: String, shimPath: String? = nil, useCgroups: Bool = true) throws {
        self.node = node
        self.useCgroups = useCgroups
        root = URL(fileURLWithPath: stateDirectory).appendingPathComponent("processes").path
        let besideUs = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
            .appendingPathComponent("reconcile-shim").path
        shim = shimPath ?? besideUs
        files = ProcessFiles(processRoot: root)
        guard FileManager.default.isExecutableFile(atPath: shim) else {
            throw DriverError(
                .invalidSpec, node: node, operation: "start process driver",
                message: "reconcile-shim not found at \(shim); install it next to reconcile")
        }
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: names) {
                // Folders made before the name index: index them first, then publish the index.
                let building = root + "/.names-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
                for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                    if let meta = ProcessRecords.read(ProcessRecords.Meta.self, from: root + "/" + id + "/meta.json") {
                        symlink(id, building + "/" + meta.name)
                    }
                }
                if rename(building, names) != 0 { try? FileManager.default.removeItem(atPath: building) }
            }
        } catch {
            throw DriverError(
                .engine, node: node, operation: "start process driver", message: "cannot create \(root): \(error)")
        }
    }

    /// Names in use: `<root>/.names/<name>` is a symbolic link to the process's id. Claimed with
    /// symlink(2), which fails when the name exists, so a name check costs one system call however
    /// many processes there are, and two claims of one name cannot both succeed.
    var names: String { root + "/.names" }

    /// Claims `name` for `id` (whose folder and meta exist); false when a process has it.
    private func claim(_ name: String, for id: String) -> Bool {
        let link = names + "/" + name
        for _ in 0..<2 {
            if symlink(id, link) == 0 { return true }
            guard errno == EEXIST else { return false }
            // Taken, or left by a process folder removed without its name (then it is reclaimed).
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
                FileManager.default.fileExists(atPath: root + "/" + target + "/meta.json")
            {
                return false
            }
            unlink(link)
        }
        return false
    }

    /// Gives the name up if `id` holds it.
    private func release(_ name: String, from id: String) {
        let link = names + "/" + name
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == id { unlink(link) }
    }

    public func info() async throws -> NodeInfo {
        let cgroups =
            FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
            ? "cgroup v2" : FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory") ? "cgroup v1" : "rlimits"
        return NodeInfo(
            capacity: Resources(
                cpu: CPUQuantity(millicores: Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000),
                memory: MemoryQuantity(bytes: Int64(ProcessInfo.processInfo.physicalMemory))),
            engine: "process (\(cgroups))")
    }

    public func list() async throws -> [ContainerInfo] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        // Forget removed processes (task containers come and go by the hundred): the caches held
        // every one ever seen, half a MiB per 200 tasks in the soak.
        let present = Set(ids)
        shims.keep(only: present)
        metas.withLock { cache in
            for id in cache.keys.filter({ !present.contains($0) }) { cache.removeValue(forKey: id) }
        }
        states.withLock { cache in
            for id in cache.keys.filter({ !present.contains($0) }) { cache.removeValue(forKey: id) }
        }
        let listed = ids.sorted().compactMap { load($0) }
        removePartialFolders(ids, listed: listed)
        return listed
    }

    /// A folder without its meta.json is a start cut short between taking the name and writing the
    /// record (a start writes it within milliseconds): once a minute old it is removed, with the
    /// name it took.
    private func removePartialFolders(_ ids: [String], listed: [ContainerInfo]) {
        guard ids.count > listed.count else { return }
        let known = Set(listed.map(\.id))
        for id in ids where !known.contains(id) && !id.hasPrefix(".") {
            let folder = root + "/" + id
            var info = stat()
            guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                !FileManager.default.fileExists(atPath: folder + "/meta.json"),
                Double(info.st_mtim.tv_sec) < Date().timeIntervalSince1970 - 60
            else { continue }
            files.removeSecrets(id)
            try? FileManager.default.removeItem(atPath: folder)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: names)) ?? [] {
                release(name, from: id)
            }
        }
    }

    public func run(_ spec: ContainerSpec) async throws -> ContainerInfo {
        let operation = "run process \(spec.name)"
        guard let command = spec.command, !command.isEmpty else {
            throw DriverError(
                .invalidSpec, node: node, operation: operation,
                message: "a process node runs a command; this one has none (an image alone needs a Docker node)")
        }
        guard !spec.name.isEmpty, !spec.name.contains("/"), !spec.name.hasPrefix(".") else {
            throw DriverError(
                .invalidSpec, node: node, operation: operation,
                message: "invalid name \"\(spec.name)\" (no '/', not starting with '.')")
        }
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: names + "/" + spec.name),
            FileManager.default.fileExists(atPath: root + "/" + target + "/meta.json")
        {
            throw DriverError(
                .conflict, node: node, operation: operation, message: "name \(spec.name) is already in use")
        }
        let id = (UUID().uuidString + UUID().uuidString).replacingOccurrences(of: "-", with: "").lowercased()
        let folder = root + "/" + id
        var env = spec.env
        var ports: [Int: Int] = [:]
        for port in spec.ports {
            guard let host = HostPorts.replicaPort() else {
                throw DriverError(
                    .engine, node: node, operation: operation,
                    message: "no free port on 127.0.0.1 in \(HostPorts.replicaRange) (the range process replicas use)")
            }
            ports[port] = host
            env["PORT_\(port)"] = String(host)
        }
        var labels = spec.labels
        labels[ManagementLabel.key] = ManagementLabel.value
        // The name is taken before anything is written, as an engine takes it at create: a start
        // cut short (the controller killed) leaves a container that holds its name (listed created,
        // replaced once abandoned), never an unnamed one beside the next start's (which no one
        // would ever remove: the crash test found one left after a run).
        guard claim(spec.name, for: id) else {
            throw DriverError(
                .conflict, node: node, operation: operation, message: "name \(spec.name) is already in use")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if !spec.files.isEmpty || !spec.mounts.isEmpty { env["FILES"] = try files.prepare(spec, id: id) }
            if spec.collectsOutputs { env["RECONCILE_OUTPUTS"] = folder + "/outputs" }
            try ProcessRecords.write(
                ProcessRecords.Meta(id: id, name: spec.name, labels: labels, ports: ports, created: Date()),
                to: folder + "/meta.json")
            // The environment (resolved secrets among it) is not written: the shim gets it on stdin.
            try ProcessRecords.write(
                ProcessRecords.Launch(
                    argv: command, env: [:], memoryBytes: spec.resources.memory.bytes,
                    cpuMillicores: spec.resources.cpu.millicores, cgroup: useCgroups ? "c" + id.prefix(24) : nil),
                to: folder + "/launch.json")
        } catch {
            files.removeSecrets(id)
            try? FileManager.default.removeItem(atPath: folder)
            release(spec.name, from: id)
            throw DriverError(.engine, node: node, operation: operation, message: "cannot write \(folder): \(error)")
        }
        try spawnShim(folder: folder, environment: env, operation: operation)
        // Looked at once more after the deadline: a task that was not scheduled for a while (a busy
        // process) must not report as missing a start that happened meanwhile.
        let deadline = Date().addingTimeInterval(10)
        while true {
            let late = Date() >= deadline
            if ProcessRecords.read(ProcessRecords.State.self, from: folder + "/state.json") != nil, let info = load(id)
            {
                return info
            }
            if late { break }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        throw DriverError(
            .engine, node: node, operation: operation, message: "the shim did not report a start within 10s")
    }

    public func outputs(_ id: String, limit: Int) async throws -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: root + "/" + id + "/outputs") else { return nil }
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: limit + 1) ?? Data())
    }

    public func stop(_ id: String, grace: Timespan) async throws {
        guard let state = currentState(id), state.status == "running", state.pid > 0 else { return }
        kill(-state.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace.seconds)
        while Date() < deadline {
            if currentState(id)?.status != "running" { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        kill(-state.pid, SIGKILL)
        if let group = ProcessCgroup.existing(name: "c" + id.prefix(24)) {
            for member in group.members where member != state.shimPID { kill(member, SIGKILL) }
        }
        let killDeadline = Date().addingTimeInterval(10)
        while Date() < killDeadline, currentState(id)?.status == "running" {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    public func remove(_ id: String) async throws {
        guard FileManager.default.fileExists(atPath: root + "/" + id) else { return }
        try await stop(id, grace: .zero)
        if let meta = ProcessRecords.read(ProcessRecords.Meta.self, from: root + "/" + id + "/meta.json"),
            (try? FileManager.default.destinationOfSymbolicLink(atPath: names + "/" + meta.name)) == id
        {
            unlink(names + "/" + meta.name)
        }
        files.removeSecrets(id)
        try? FileManager.default.removeItem(atPath: root + "/" + id)
    }

    public func inspect(_ id: String) async throws -> ContainerInfo? { load(id) }

    /// A process's links do not hold the folder, so nothing stops its removal but a running process
    /// that links it: that one is refused, like a Docker volume in use.
    public func volumes() async throws -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: files.volumeRoot)) ?? []).filter { !$0.hasPrefix(".") }
            .sorted()
    }

    public func removeVolume(_ name: String) async throws {
        let folder = try files.volumeFolder(name)
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where !id.hasPrefix(".") {
            guard currentState(id)?.status == "running" else { continue }
            let links = FileManager.default.enumerator(atPath: files.filesFolder(id))
            while let path = links?.nextObject() as? String {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: files.filesFolder(id) + "/" + path))
                    == folder
                {
                    throw DriverError(
                        .conflict, node: node, operation: "remove volume \(name)",
                        message: "volume is in use by process \(id.prefix(12))")
                }
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    public func logs(_ id: String, since: Date?) async throws -> [LogLine] {
        guard FileManager.default.fileExists(atPath: root + "/" + id) else {
            throw DriverError(.notFound, node: node, operation: "read logs of \(id)", message: "no such process")
        }
        // The shim rotates output.log into output.log.1: the older file first.
        var lines: [LogLine] = []
        for file in ["output.log.1", "output.log"] {
            guard var data = MappedFile.contents(atPath: root + "/" + id + "/" + file) else { continue }
            // Lines are in time order: with `since`, start at the first line at or after it (binary
            // search), so following a long-running process's output does not read all of it every time.
            if let since { data = data.subdata(in: Self.firstLine(in: data, atOrAfter: since)..<data.count) }
            lines += Self.outputLines(data, since: since)
        }
        return lines
    }

    /// The size, inode and modification time of both output files (the shim only appends, and
    /// rotates by renaming): equal marks mean no new output.
    public func outputMark(_ id: String) async -> [Int64]? {
        FileMark.of([root + "/" + id + "/output.log.1", root + "/" + id + "/output.log"])
    }

    /// The shim's `TIME STREAM TEXT` lines, parsed on the bytes (log ingest runs through here for
    /// every line a process prints); lines without a valid time are skipped.
    static func outputLines(_ data: Data, since: Date?) -> [LogLine] {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [LogLine] in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lines: [LogLine] = []
            var start = 0
            let count = bytes.count
            while start < count {
                var end = start
                while end < count, bytes[end] != 10 { end += 1 }
                defer { start = end + 1 }
                var space = start
                while space < end, bytes[space] != 32 { space += 1 }
                guard space < end,
                    let time = DockerTime.parse(bytes: UnsafeBufferPointer(rebasing: bytes[start..<space]))
                else { continue }
                if let since, time < since { continue }
                var second = space + 1
                while second < end, bytes[second] != 32 { second += 1 }
                let stream = UnsafeBufferPointer(rebasing: bytes[(space + 1)..<second])
                let isStderr = stream.elementsEqual("stderr".utf8)
                let text =
                    second < end
                    ? String(decoding: UnsafeBufferPointer(rebasing: bytes[(second + 1)..<end]), as: UTF8.self) : ""
                lines.append(LogLine(time: time, stream: isStderr ? .stderr : .stdout, text: text))
            }
            return lines
        }
    }

    /// The offset of the first `TIME STREAM TEXT` line whose time is at or after `time`.
    static func firstLine(in data: Data, atOrAfter time: Date) -> Int {
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Int in
            let count = bytes.count
            func lineStart(atOrAfter position: Int) -> Int {
                var index = position
                if index == 0 || index >= count { return min(index, count) }
                if bytes[index - 1] == 10 { return index }
                while index < count, bytes[index] != 10 { index += 1 }
                return min(count, index + 1)
            }
            func next(_ start: Int) -> Int { lineStart(atOrAfter: start + 1) }
            func stamp(_ start: Int) -> Date {
                var end = start
                while end < count, bytes[end] != 32, bytes[end] != 10 { end += 1 }
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                return DockerTime.parse(text) ?? .distantPast
            }
            var low = 0
            var high = count
            while low < high {
                let middle = low + (high - low) / 2
                let start = lineStart(atOrAfter: middle)
                if start >= high {
                    if stamp(low) >= time { high = low } else { low = next(low) }
                } else if stamp(start) < time {
                    low = next(start)
                } else {
                    high = start
                }
            }
            return low
        }
    }

    /// Runs argv on the host (through `Spawn`) with the running process's own environment (its
    /// `PORT_<port>` variables included, read from `/proc/PID/environ`, as `docker exec` does), in
    /// the process's folder, output discarded; its group is killed when it outlives `timeout`.
    public func exec(_ id: String, command: [String], timeout: Timespan) async throws -> Int {
        let operation = "exec in process \(id.prefix(12))"
        let folder = root + "/" + id
        guard FileManager.default.fileExists(atPath: folder + "/launch.json") else {
            throw DriverError(.notFound, node: node, operation: operation, message: "no such process")
        }
        guard let state = currentState(id), state.status == "running" else {
            throw DriverError(.conflict, node: node, operation: operation, message: "the process is not running")
        }
        guard !command.isEmpty else {
            throw DriverError(.invalidSpec, node: node, operation: operation, message: "empty command")
        }
        let environment = Spawn.environment(declaring: ProcessRecords.environment(of: state.pid))
        let finished: Spawn.Finished
        do {
            finished = try await Spawn.run(
                command, environment: environment, directory: folder, timeout: timeout.seconds, outputLimit: 0)
        } catch {
            throw DriverError(.invalidSpec, node: node, operation: operation, message: "\(error)")
        }
        guard let status = finished.status else {
            throw DriverError(
                .engine, node: node, operation: operation, message: "still running after \(timeout) (timed out)")
        }
        return Int(status)
    }

    /// `list` reads each process's records in full.
    public var listsFullState: Bool { true }

    /// Each shim sends a notice when its process has exited.
    public func exitNotices() -> ExitNotices? { ExitNotices.listening(on: root) }

    /// Process nodes run host commands; images do not apply.
    public func hasImage(_ image: String) async throws -> Bool { true }

    public var runsImages: Bool { false }

    public func pull(_ image: String, auth: RegistryAuth?) async throws {}

    // MARK: Records

    /// The state, with a dead shim that never recorded an exit reported as exited (exit code unknown).
    private func currentState(_ id: String) -> ProcessRecords.State? {
        // state.json is rewritten (renamed into place) only when the process starts or ends: decoded
        // again only when its inode or change time moved.
        let path = root + "/" + id + "/state.json"
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let version = [UInt64(status.st_ino), UInt64(status.st_ctim.tv_sec), UInt64(status.st_ctim.tv_nsec)]
        var state = states.withLock { cache in cache[id].flatMap { $0.version == version ? $0.state : nil } }
        if state == nil {
            state = ProcessRecords.read(ProcessRecords.State.self, from: path)
            if let state { states.withLock { $0[id] = (version, state) } }
        }
        guard var state else { return nil }
        if state.status == "running" {
            if !shims.isRunning(id: id, pid: state.shimPID, startTime: state.shimStartTime) {
                // The shim records the exit before it exits, so a shim seen dead may have renamed its
                // final record in after the read above: read it again before calling the exit
                // unrecorded. (Without this, a task that exited 0 was now and then recorded as
                // failed with exit -1: seen in a soak run of the suite.)
                if let final = ProcessRecords.read(ProcessRecords.State.self, from: path), final.status != "running" {
                    state = final
                    states.withLock { $0[id] = nil }
                } else {
                    // The shim died (a kill -9) with its process still running: nobody would collect
                    // that process's output or exit, and a new replica would start beside it. End it
                    // and record the exit, so it is ended once and counted as exited.
                    endOrphan(id, state)
                    state.status = "exited"
                    state.finishedAt = Date()
                    state.exitCode = 137
                    state.warning = "the shim (pid \(state.shimPID)) died; its process group was killed"
                    try? ProcessRecords.write(state, to: path)
                    states.withLock { $0[id] = nil }
                }
            }
        } else {
            shims.forget(id)
        }
        return state
    }

    /// Kills the process group (and cgroup) of a process whose shim is gone. The group is signalled
    /// only when its leader is the recorded process (same start time) or gone: a group id cannot be
    /// reused while any member of the group lives, so this never reaches an unrelated process. (A
    /// record of an older version has no start time: its live leader is left alone.)
    private func endOrphan(_ id: String, _ state: ProcessRecords.State) {
        guard state.pid > 0 else { return }
        let now = ProcessRecords.startTime(of: state.pid)
        if now == nil || (state.pidStartTime != nil && now == state.pidStartTime) {
            kill(-state.pid, SIGKILL)
        }
        if let group = ProcessCgroup.existing(name: "c" + id.prefix(24)) {
            for member in group.members { kill(member, SIGKILL) }
        }
    }

    private func load(_ id: String) -> ContainerInfo? {
        let folder = root + "/" + id
        // A process's meta never changes once written: read once, then from memory.
        var meta = metas.withLock { $0[id] }
        if meta == nil {
            meta = ProcessRecords.read(ProcessRecords.Meta.self, from: folder + "/meta.json")
            if let meta { metas.withLock { $0[id] = meta } }
        }
        guard let meta, FileManager.default.fileExists(atPath: folder) else {
            _ = metas.withLock { $0.removeValue(forKey: id) }
            _ = states.withLock { $0.removeValue(forKey: id) }
            shims.forget(id)
            return nil
        }
        let state = currentState(id)
        let status: ContainerInfo.Status =
            switch state?.status {
            case "running": .running
            case "exited": .exited
            default: .created
            }
        return ContainerInfo(
            id: meta.id, name: meta.name, labels: meta.labels, status: status, exitCode: state?.exitCode,
            startedAt: state?.startedAt, finishedAt: state?.finishedAt, oomKilled: state?.oomKilled ?? false,
            ports: meta.ports, hostAddress: "127.0.0.1", createdAt: meta.created)
    }

    /// Starts the shim in a session of its own (through `Spawn`: no descriptor of the controller's,
    /// no variable of its environment) with the workload's environment on its stdin, an in-memory
    /// file: resolved secrets never touch the disk.
    private func spawnShim(folder: String, environment: [String: String], operation: String) throws {
        let encoded = (try? JSONEncoder().encode(environment)).map { Array($0) } ?? []
        guard let input = Spawn.memoryFile(encoded, name: "reconcile-launch-env") else {
            throw DriverError(
                .engine, node: node, operation: operation,
                message: "cannot create the shim's environment file: \(String(cString: strerror(errno)))")
        }
        defer { close(input) }
        let pid: pid_t
        do {
            pid = try Spawn.start(
                Spawn.Request(
                    argv: [shim, folder], environment: Spawn.environment(), stdin: .descriptor(input),
                    stderr: .file(folder + "/shim.err", append: true, exclusive: false), grouping: .session))
        } catch {
            throw DriverError(.engine, node: node, operation: operation, message: "cannot start the shim: \(error)")
        }
        // Reap the shim when it ends so it never lingers as a zombie of ours.
        Thread.detachNewThread {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// A one-shot signal a callback thread fires and an async caller awaits with a time limit.
final class ExitSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var timedOut = false
    private var waiter: CheckedContinuation<Bool, Never>?

    func fire() {
        let waiting: CheckedContinuation<Bool, Never>? = lock.withLock {
            fired = true
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(returning: true)
    }

    /// True when fired within `timeout` seconds.
    func wait(timeout: Double) async -> Bool {
        let timer = Task { [self] in
            try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1_000_000_000))
            let waiting: CheckedContinuation<Bool, Never>? = lock.withLock {
                timedOut = true
                defer { waiter = nil }
                return waiter
            }
            waiting?.resume(returning: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let settled: Bool? = lock.withLock {
                if fired { return true }
                if timedOut { return false }
                waiter = continuation
                return nil
            }
            if let settled { continuation.resume(returning: settled) }
        }
    }
}
