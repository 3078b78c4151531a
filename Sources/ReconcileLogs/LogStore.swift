import Foundation

/// Where collected logs live under `<state>/logs`: `apps/<app>/<replica>/<first µs>.log|.idx`
/// (segments rotated by size) and `dags/<dag>/<run>/<task>.<try>.log|.idx` (one per attempt).
public struct LogStore: Sendable {
    public let root: String
    /// A replica's segment is closed and a new one started beyond this size.
    public var segmentBytes: Int64

    public init(stateDirectory: String, segmentBytes: Int64 = 64 << 20) {
        root = stateDirectory + "/logs"
        self.segmentBytes = segmentBytes
    }

    /// A name as a path component (run ids hold ':').
    public static func component(_ text: String) -> String {
        String(text.map { $0 == ":" || $0 == "/" ? "_" : $0 })
    }

    public func replicaDirectory(app: String, replica: String) -> String {
        [root, "apps", Self.component(app), Self.component(replica)].joined(separator: "/")
    }

    /// The base path (no extension) of an attempt's output.
    public func attemptBase(dag: String, runID: String, task: String, tryNumber: Int) -> String {
        [root, "dags", Self.component(dag), Self.component(runID), "\(Self.component(task)).\(tryNumber)"].joined(
            separator: "/")
    }

    /// Segment bases of a folder, oldest first (names are their first line's time, zero-padded).
    public static func segments(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".idx") }.map { folder + "/" + $0.dropLast(4) }.sorted()
    }

    /// Every segment of an App, by replica as shown to people: the container's name (folders are
    /// `<container name>-<id prefix>`), or `router` for the router's access log.
    public func segmentsByReplicaName(app: String) -> [(source: String, bases: [String])] {
        segments(app: app).map {
            let parts = $0.replica.split(separator: "-")
            return (parts.count > 1 ? parts.dropLast().joined(separator: "-") : $0.replica, $0.bases)
        }
    }

    /// Every segment of an App, by replica folder.
    public func segments(app: String) -> [(replica: String, bases: [String])] {
        let folder = [root, "apps", Self.component(app)].joined(separator: "/")
        let replicas = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return replicas.map { ($0, Self.segments(in: folder + "/" + $0)) }
    }

    /// The segment a replica's next lines go to: its newest, or a new one when that is full.
    public func writableSegment(app: String, replica: String, firstTime: Date) throws -> String {
        let folder = replicaDirectory(app: app, replica: replica)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if let last = Self.segments(in: folder).last,
            let size = (try? FileManager.default.attributesOfItem(atPath: last + ".log"))?[.size] as? Int64,
            size < segmentBytes
        {
            return last
        }
        let micros = Int64((firstTime.timeIntervalSince1970 * 1_000_000).rounded())
        return folder + "/" + String(format: "%020lld", micros)
    }

    /// Matching lines of the given segments (by source name), merged in time order.
    public static func search(
        _ sources: [(source: String, bases: [String])], pattern: LogPattern?, since: Date?, limit: Int = .max
    ) -> [(source: String, line: CollectedLine)] {
        searchWithPositions(sources, pattern: pattern, since: since, limit: limit).found
    }

    /// The same, with how many lines each segment had when it was read: `--follow` goes on from
    /// exactly there (a line appended between the listing and the follow is neither lost nor shown twice).
    public static func searchWithPositions(
        _ sources: [(source: String, bases: [String])], pattern: LogPattern?, since: Date?, limit: Int = .max
    ) -> (found: [(source: String, line: CollectedLine)], positions: [String: Int]) {
        var found: [(source: String, line: CollectedLine)] = []
        var positions: [String: Int] = [:]
        for (source, bases) in sources {
            for base in bases {
                guard let reader = SegmentReader(base) else { continue }
                positions[base] = reader.count
                guard reader.count > 0 else { continue }
                if let since, reader.time(reader.count - 1) < since { continue }
                let start = since.map { reader.firstLine(atOrAfter: $0) } ?? 0
                let lines = pattern.map { reader.matches($0, from: start) } ?? Array(start..<reader.count)
                for number in lines { found.append((source, reader.line(number))) }
            }
        }
        found.sort { $0.line.time < $1.line.time }
        return (found.count > limit ? Array(found.suffix(max(0, limit))) : found, positions)
    }

    /// Removes App segments whose newest line is older than `maxAge`, then the oldest segments until
    /// all App logs fit in `maxBytes` (each replica's newest segment stays until it expires).
    /// Returns how many went.
    @discardableResult
    public func retain(maxAge: TimeInterval, maxBytes: Int64, now: Date) -> Int {
        var all: [(base: String, newest: Date, size: Int64, writable: Bool)] = []
        let apps = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/apps")) ?? [])
        for app in apps {
            let folder = root + "/apps/" + app
            for replica in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let bases = Self.segments(in: folder + "/" + replica)
                for (index, base) in bases.enumerated() {
                    let size =
                        ((try? FileManager.default.attributesOfItem(atPath: base + ".log"))?[.size] as? Int64 ?? 0)
                        + ((try? FileManager.default.attributesOfItem(atPath: base + ".idx"))?[.size] as? Int64 ?? 0)
                    let newest = SegmentReader(base).flatMap { $0.count > 0 ? $0.time($0.count - 1) : nil } ?? now
                    all.append((base, newest, size, index == bases.count - 1))
                }
            }
        }
        var removed = 0
        var total = all.reduce(Int64(0)) { $0 + $1.size }
        for segment in all.sorted(by: { $0.newest < $1.newest }) {
            let expired = now.timeIntervalSince(segment.newest) > maxAge
            // A replica's newest segment goes only once expired (its replica is long gone).
            guard expired || (total > maxBytes && !segment.writable) else { continue }
            try? FileManager.default.removeItem(atPath: segment.base + ".log")
            try? FileManager.default.removeItem(atPath: segment.base + ".idx")
            total -= segment.size
            removed += 1
        }
        return removed
    }
}
