import Foundation

/// Ends what a test's controller started on process nodes: every `reconcile-shim` whose folder is
/// under a state directory and every process (with its process group) working in such a folder.
/// Found through /proc, so it works after the state directory was removed and after the shim died
/// (a workload whose shim was killed keeps its working directory).
public enum ProcessWorkloads {
    /// Kills them all with SIGKILL and returns how many processes were found.
    @discardableResult
    public static func endAll(under stateDirectory: String) -> Int {
        let folder = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path + "/processes/"
        var ended = 0
        for _ in 0..<50 {
            let found = processes(under: folder)
            if found.isEmpty { break }
            for pid in found {
                let group = getpgid(pid)
                if group > 1, group != getpgrp() { killpg(group, SIGKILL) }
                kill(pid, SIGKILL)
            }
            ended += found.count
            usleep(20_000)
        }
        return ended
    }

    /// Live (not zombie) processes whose working directory or shim argument is under `folder`.
    static func processes(under folder: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != getpid(), !isZombie(pid) else { return false }
            if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
                cwd.hasPrefix(folder)
            {
                return true
            }
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.count == 2 && arguments[0].hasSuffix("reconcile-shim") && arguments[1].hasPrefix(folder)
        }
    }

    /// True for a zombie, and for a pid whose /proc entry cannot be read (gone).
    public static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
