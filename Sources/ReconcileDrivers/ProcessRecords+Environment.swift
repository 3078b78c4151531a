import Foundation
import ReconcileShimCore

extension ProcessRecords {
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
}
