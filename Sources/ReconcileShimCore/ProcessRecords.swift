#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The files a process "container" keeps in its folder `<state>/processes/<id>/`, shared by
/// `ProcessDriver` (which writes `launch.json` and `meta.json`) and `reconcile-shim` (which writes
/// `state.json` and appends to `output.log`). Everything survives a controller restart.
public enum ProcessRecords {
    /// What the shim starts.
    public struct Launch: Codable, Sendable {
        public var argv: [String]
        public var env: [String: String]
        public var memoryBytes: Int64
        public var cpuMillicores: Int64
        /// Name of the cgroup to create (under `reconcile/`); nil: do not use cgroups (rlimits only).
        public var cgroup: String?

        public init(argv: [String], env: [String: String], memoryBytes: Int64, cpuMillicores: Int64, cgroup: String?) {
            self.argv = argv
            self.env = env
            self.memoryBytes = memoryBytes
            self.cpuMillicores = cpuMillicores
            self.cgroup = cgroup
        }
    }

    /// What the driver knows about the container.
    public struct Meta: Codable, Sendable {
        public var id: String
        public var name: String
        public var labels: [String: String]
        public var ports: [Int: Int]
        public var created: Date

        public init(id: String, name: String, labels: [String: String], ports: [Int: Int], created: Date) {
            self.id = id
            self.name = name
            self.labels = labels
            self.ports = ports
            self.created = created
        }
    }

    /// What the shim reports: written when the process starts and again when it ends.
    public struct State: Codable, Sendable {
        public var status: String  // "running" | "exited"
        public var shimPID: Int32
        /// The shim's start time in clock ticks since boot (/proc/PID/stat field 22): pid + start time
        /// identify the shim even after its pid is reused.
        public var shimStartTime: UInt64
        /// The process's pid, which is also its process group id.
        public var pid: Int32
        /// The process's start time in clock ticks since boot (nil in records of older versions).
        public var pidStartTime: UInt64?
        public var startedAt: Date
        public var finishedAt: Date?
        public var exitCode: Int?
        public var oomKilled: Bool
        /// How limits are enforced: "cgroup v1", "cgroup v2" or "rlimit" (with a warning).
        public var limits: String
        public var warning: String?

        public init(
            status: String, shimPID: Int32, shimStartTime: UInt64, pid: Int32, startedAt: Date, finishedAt: Date? = nil,
            exitCode: Int? = nil, oomKilled: Bool = false, limits: String, warning: String? = nil
        ) {
            self.status = status
            self.shimPID = shimPID
            self.shimStartTime = shimStartTime
            self.pid = pid
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.exitCode = exitCode
            self.oomKilled = oomKilled
            self.limits = limits
            self.warning = warning
        }
    }

    public static func read<T: Decodable>(_ type: T.Type, from path: String) -> T? {
        guard let data = contents(of: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(type, from: data)
    }

    /// Writes atomically (temporary file + rename), so a reader never sees half a record.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        let temporary = path + ".tmp"
        try data.withUnsafeBytes { try put($0, to: temporary) }
        guard rename(temporary, path) == 0 else { throw RecordError(path: path, errno: errno) }
    }

    /// Writes `bytes` as the whole of the file at `path` (created 0666 less the umask, never through
    /// a symbolic link). By hand: Foundation's file writing would link `mktemp` into the shim.
    public static func put(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o666)
        guard descriptor >= 0 else { throw RecordError(path: path, errno: errno) }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw RecordError(path: path, errno: errno) }
            offset += count
        }
    }

    public static func put(_ text: String, to path: String) throws {
        var text = text
        try text.withUTF8 { try put(UnsafeRawBufferPointer($0), to: path) }
    }

    /// The whole of a file, or nil when it cannot be read. By hand, like `put`.
    public static func contents(of path: String) -> Data? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = Glibc.read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    /// Creates a folder and the folders above it that are missing (`mkdir -p`).
    public static func makeFolder(_ path: String) throws {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0, errno != EEXIST { throw RecordError(path: prefix, errno: errno) }
        }
    }

    /// True when something is at `path`.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A record that could not be put in place.
    public struct RecordError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
    }

    /// A process's start time in clock ticks since boot, or nil when it does not exist.
    public static func startTime(of pid: Int32) -> UInt64? {
        // Read with one read(2) into a stack buffer and parsed in place: this runs for every
        // process on every listing.
        let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> UInt64? in
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            let bytes = UnsafeBufferPointer(rebasing: buffer[0..<count])
            // Fields after "(comm)" (which may hold spaces): state is field 3, starttime field 22.
            guard let commEnd = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            var field = 2
            var index = commEnd + 1
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: " ") {
                    field += 1
                    if field == 22 {
                        var value: UInt64 = 0
                        var digit = index + 1
                        while digit < bytes.count, bytes[digit] >= 48, bytes[digit] <= 57 {
                            value = value * 10 + UInt64(bytes[digit] - 48)
                            digit += 1
                        }
                        return digit > index + 1 ? value : nil
                    }
                }
                index += 1
            }
            return nil
        }
    }

    /// One line of `output.log`: `<RFC 3339 time with nanoseconds> <stdout|stderr> <text>`.
    public static func logLine(time: Date, stream: String, text: String) -> String {
        let seconds = time.timeIntervalSince1970
        let whole = Int64(seconds.rounded(.down))
        let nanos = Int64(((seconds - Double(whole)) * 1e9).rounded())
        var tm = tm()
        var t = time_t(whole)
        gmtime_r(&t, &tm)
        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let stamp =
            padded(Int64(tm.tm_year) + 1900, 4) + "-" + padded(Int64(tm.tm_mon) + 1, 2) + "-"
            + padded(Int64(tm.tm_mday), 2)
            + "T" + padded(Int64(tm.tm_hour), 2) + ":" + padded(Int64(tm.tm_min), 2) + ":" + padded(Int64(tm.tm_sec), 2)
            + "." + padded(min(nanos, 999_999_999), 9) + "Z"
        return "\(stamp) \(stream) \(text)\n"
    }
}

/// Control groups for the limits of process containers: v2 (unified) or v1 (memory and cpu
/// hierarchies), under `reconcile/<name>`.
public struct ProcessCgroup: Sendable {
    public let version: Int
    /// Folders that make up the group (one for v2, memory and cpu for v1).
    public let directories: [String]

    /// Creates the group with the limits, or returns nil with the reason (not root, no cgroupfs, ...).
    public struct Unavailable: Error, Sendable {
        public var reason: String

        public init(reason: String) { self.reason = reason }
    }

    public static func create(
        name: String, memoryBytes: Int64, cpuMillicores: Int64
    ) -> Result<ProcessCgroup, Unavailable> {
        let period = 100_000
        let quota = max(1000, Int(cpuMillicores) * period / 1000)
        do {
            if ProcessRecords.exists("/sys/fs/cgroup/cgroup.controllers") {
                let parent = "/sys/fs/cgroup/reconcile"
                try ProcessRecords.makeFolder(parent)
                try? ProcessRecords.put("+memory +cpu", to: parent + "/cgroup.subtree_control")
                let directory = parent + "/" + name
                try ProcessRecords.makeFolder(directory)
                try ProcessRecords.put("\(memoryBytes)", to: directory + "/memory.max")
                try? ProcessRecords.put("0", to: directory + "/memory.swap.max")
                try ProcessRecords.put("\(quota) \(period)", to: directory + "/cpu.max")
                return .success(ProcessCgroup(version: 2, directories: [directory]))
            }
            let memory = "/sys/fs/cgroup/memory/reconcile/" + name
            let cpu = "/sys/fs/cgroup/cpu/reconcile/" + name
            try ProcessRecords.makeFolder(memory)
            try ProcessRecords.makeFolder(cpu)
            try ProcessRecords.put("\(memoryBytes)", to: memory + "/memory.limit_in_bytes")
            try? ProcessRecords.put("\(memoryBytes)", to: memory + "/memory.memsw.limit_in_bytes")
            try ProcessRecords.put("\(period)", to: cpu + "/cpu.cfs_period_us")
            try ProcessRecords.put("\(quota)", to: cpu + "/cpu.cfs_quota_us")
            return .success(ProcessCgroup(version: 1, directories: [memory, cpu]))
        } catch {
            return .failure(Unavailable(reason: "cgroups are not available (\(error))"))
        }
    }

    /// An existing group by name, for a driver that did not create it.
    public static func existing(name: String) -> ProcessCgroup? {
        let v2 = "/sys/fs/cgroup/reconcile/" + name
        if ProcessRecords.exists(v2) { return ProcessCgroup(version: 2, directories: [v2]) }
        let memory = "/sys/fs/cgroup/memory/reconcile/" + name
        let cpu = "/sys/fs/cgroup/cpu/reconcile/" + name
        if ProcessRecords.exists(memory) { return ProcessCgroup(version: 1, directories: [memory, cpu]) }
        return nil
    }

    public func join(_ pid: Int32) throws {
        for directory in directories {
            try ProcessRecords.put("\(pid)", to: directory + "/cgroup.procs")
        }
    }

    /// Pids in the group (the whole process tree, wherever it moved its process group).
    public var members: [Int32] {
        guard let first = directories.first,
            let data = ProcessRecords.contents(of: first + "/cgroup.procs")
        else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// True when the kernel's OOM killer killed something in the group.
    public var oomKilled: Bool {
        guard let first = directories.first else { return false }
        let file = version == 2 ? first + "/memory.events" : first + "/memory.oom_control"
        guard let text = ProcessRecords.contents(of: file).map({ String(decoding: $0, as: UTF8.self) }) else {
            return false
        }
        for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return (Int(line.split(separator: " ").last ?? "") ?? 0) > 0
        }
        return false
    }

    /// Removes the group once its last process has gone (killed processes take a moment to leave).
    public func remove() {
        for directory in directories {
            for _ in 0..<40 where rmdir(directory) != 0 && errno == EBUSY { usleep(50_000) }
        }
    }
}
