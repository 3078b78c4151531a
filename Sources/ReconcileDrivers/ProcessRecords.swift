import Foundation

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
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
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
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
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

    /// The environment a running process started with (`/proc/PID/environ`, at most 1 MiB read);
    /// empty when it cannot be read.
    public static func environment(of pid: Int32) -> [String: String] {
        guard pid > 0, let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/environ") else { return [:] }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// One line of `output.log`: `<RFC 3339 time with nanoseconds> <stdout|stderr> <text>`.
    public static func logLine(time: Date, stream: String, text: String) -> String {
        let seconds = time.timeIntervalSince1970
        let whole = Int64(seconds.rounded(.down))
        let nanos = Int64(((seconds - Double(whole)) * 1e9).rounded())
        var tm = tm()
        var t = time_t(whole)
        gmtime_r(&t, &tm)
        let stamp = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
            tm.tm_min, tm.tm_sec, min(nanos, 999_999_999))
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
        let fm = FileManager.default
        let period = 100_000
        let quota = max(1000, Int(cpuMillicores) * period / 1000)
        do {
            if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
                let parent = "/sys/fs/cgroup/reconcile"
                try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
                try? "+memory +cpu".write(
                    toFile: parent + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
                let directory = parent + "/" + name
                try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try "\(memoryBytes)".write(toFile: directory + "/memory.max", atomically: false, encoding: .utf8)
                try? "0".write(toFile: directory + "/memory.swap.max", atomically: false, encoding: .utf8)
                try "\(quota) \(period)".write(toFile: directory + "/cpu.max", atomically: false, encoding: .utf8)
                return .success(ProcessCgroup(version: 2, directories: [directory]))
            }
            let memory = "/sys/fs/cgroup/memory/reconcile/" + name
            let cpu = "/sys/fs/cgroup/cpu/reconcile/" + name
            try fm.createDirectory(atPath: memory, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: cpu, withIntermediateDirectories: true)
            try "\(memoryBytes)".write(toFile: memory + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
            try? "\(memoryBytes)".write(
                toFile: memory + "/memory.memsw.limit_in_bytes", atomically: false, encoding: .utf8)
            try "\(period)".write(toFile: cpu + "/cpu.cfs_period_us", atomically: false, encoding: .utf8)
            try "\(quota)".write(toFile: cpu + "/cpu.cfs_quota_us", atomically: false, encoding: .utf8)
            return .success(ProcessCgroup(version: 1, directories: [memory, cpu]))
        } catch {
            return .failure(Unavailable(reason: "cgroups are not available (\(error.localizedDescription))"))
        }
    }

    /// An existing group by name, for a driver that did not create it.
    public static func existing(name: String) -> ProcessCgroup? {
        let fm = FileManager.default
        let v2 = "/sys/fs/cgroup/reconcile/" + name
        if fm.fileExists(atPath: v2) { return ProcessCgroup(version: 2, directories: [v2]) }
        let memory = "/sys/fs/cgroup/memory/reconcile/" + name
        let cpu = "/sys/fs/cgroup/cpu/reconcile/" + name
        if fm.fileExists(atPath: memory) { return ProcessCgroup(version: 1, directories: [memory, cpu]) }
        return nil
    }

    public func join(_ pid: Int32) throws {
        for directory in directories {
            try "\(pid)".write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
        }
    }

    /// Pids in the group (the whole process tree, wherever it moved its process group).
    public var members: [Int32] {
        guard let first = directories.first,
            let text = try? String(contentsOfFile: first + "/cgroup.procs", encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// True when the kernel's OOM killer killed something in the group.
    public var oomKilled: Bool {
        guard let first = directories.first else { return false }
        let file = version == 2 ? first + "/memory.events" : first + "/memory.oom_control"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
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
