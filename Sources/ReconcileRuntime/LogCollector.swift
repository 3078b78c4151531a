import Foundation
import ReconcileDrivers
import ReconcileLogs
import ReconcileModel
import ReconcileStore
import Synchronization

/// Collects the output of every App replica into the log store (`<state>/logs/apps/<app>/<replica>`),
/// every 2 seconds, on a loop of its own. Each container's position is a cursor in the store, written
/// after its lines are appended; a collector that died in between cuts the uncommitted tail off on
/// its next start and reads those lines again, so no line is lost or stored twice. Segments rotate
/// by size; retention removes them by age and total size.
public final class LogCollector: Sendable {
    public struct Inputs: Sendable {
        public var nodes: [NodeSpec]
        public var drivers: [String: any ContainerDriver]
        /// The controller's latest observation: a round reads its listings instead of listing every
        /// node again (a node it lacks is listed).
        public var snapshot: ClusterSnapshot?

        public init(nodes: [NodeSpec], drivers: [String: any ContainerDriver], snapshot: ClusterSnapshot? = nil) {
            self.nodes = nodes
            self.drivers = drivers
            self.snapshot = snapshot
        }
    }

    public struct Retention: Sendable {
        public var maxAge: Timespan
        public var maxBytes: Int64

        public init(maxAge: Timespan = .hours(24 * 7), maxBytes: Int64 = 1 << 30) {
            self.maxAge = maxAge
            self.maxBytes = maxBytes
        }
    }

    let store: Store
    let logs: LogStore
    let retention: Retention
    let log: @Sendable (String) -> Void
    private let inputs = Mutex<Inputs?>(nil)
    private struct Memory {
        /// Containers whose uncommitted tail was cut this run.
        var checked: Set<String> = []
        var lastHousekeeping = Date.distantPast
        var problems: Set<String> = []
        /// Each container's output mark when it was last read in full (`ContainerDriver.outputMark`):
        /// a round skips a container whose mark has not moved.
        var outputMarks: [String: [Int64]] = [:]
    }
    private let memory = Mutex(Memory())
    /// A snapshot older than this is not used: the nodes are listed afresh. A quiet controller takes
    /// one every 10 s (`--quiet-span`); a replica started since is collected from its first line
    /// at the next, and one removed is collected before it goes (`collectNow`).
    static let snapshotAge: TimeInterval = 15
    private let lock = AsyncLock()

    public init(
        store: Store, logs: LogStore, retention: Retention = Retention(), log: @escaping @Sendable (String) -> Void
    ) {
        self.store = store
        self.logs = logs
        self.retention = retention
        self.log = log
    }

    public func update(_ new: Inputs) { inputs.withLock { $0 = new } }

    public func run(stopping: @Sendable () -> Bool) async {
        while !stopping() {
            await collect(now: Date())
            for _ in 0..<2 where !stopping() { try? await Task.sleep(for: .seconds(1)) }
        }
    }

    /// One round over every reachable node.
    public func collect(now: Date) async {
        // One collection at a time (a round and a replica's last lines before removal).
        await lock.run { await self.collectRound(now: now) }
    }

    private func collectRound(now: Date) async {
        guard let current = inputs.withLock({ $0 }) else { return }
        do {
            var cursors = try store.logCursors()
            var listedIDs: [String] = []
            for node in current.nodes {
                guard let driver = current.drivers[node.name] else { continue }
                // The controller's snapshot while it is recent (it is taken every tick); a container
                // it lists may have been removed since, so reading one that is gone is not a problem.
                let listed: [ContainerInfo]
                let recent = current.snapshot.map { now.timeIntervalSince($0.takenAt) < Self.snapshotAge } ?? false
                if recent, let seen = current.snapshot?.nodes[node.name]?.containers {
                    listed = seen
                } else if let fresh = try? await driver.list() {
                    listed = fresh
                } else {
                    continue
                }
                for container in listed {
                    guard let app = container.labels[OwnershipLabels.app] else { continue }
                    listedIDs.append(container.id)
                    if let cursor = try await collect(
                        container, app: app, driver: driver, cursor: cursors[container.id], now: now,
                        quietIfGone: recent)
                    {
                        cursors[container.id] = cursor
                    }
                }
            }
            try housekeeping(listedIDs, now: now)
        } catch {
            log("logs: \(error)")
        }
    }

    /// Collects one container now (before it is removed: its last lines are kept).
    public func collectNow(node: String, containerID: String) async {
        await lock.run { await self.collectOne(node: node, containerID: containerID) }
    }

    private func collectOne(node: String, containerID: String) async {
        guard let current = inputs.withLock({ $0 }), let driver = current.drivers[node],
            let container = try? await driver.inspect(containerID), let app = container.labels[OwnershipLabels.app]
        else { return }
        do {
            _ = try await collect(
                container, app: app, driver: driver, cursor: try store.logCursors()[containerID], now: Date())
        } catch {
            log("logs: \(error)")
        }
    }

    private func collect(
        _ container: ContainerInfo, app: String, driver: any ContainerDriver, cursor: LogCursor?, now: Date,
        quietIfGone: Bool = false
    ) async throws -> LogCursor? {
        if let cursor, memory.withLock({ $0.checked.insert(container.id).inserted }) {
            LogSegment.truncate(cursor.base, text: cursor.textSize, index: cursor.indexSize)
        }
        // Read before the output, so a line written meanwhile moves it again for the next round.
        let mark = await driver.outputMark(container.id)
        if let mark, memory.withLock({ $0.outputMarks[container.id] == mark }) { return nil }
        func rememberMark() { if let mark { memory.withLock { $0.outputMarks[container.id] = mark } } }
        let since = cursor.map { Date(timeIntervalSince1970: Double($0.timeMicros) / 1_000_000 - 0.000_001) }
        let lines: [LogLine]
        do {
            lines = try await driver.logs(container.id, since: since)
        } catch let error as DriverError where quietIfGone && error.kind == .notFound {
            return nil
        } catch {
            let first = memory.withLock { $0.problems.insert(container.id).inserted }
            if first { log("logs: cannot read \(container.name): \(error)") }
            return nil
        }
        // Skip what the cursor has: earlier lines, and the first `countAtTime` at its time.
        var atCursor = 0
        var fresh: [CollectedLine] = []
        for line in lines {
            let micros = Self.micros(line.time)
            if let cursor {
                if micros < cursor.timeMicros { continue }
                if micros == cursor.timeMicros {
                    atCursor += 1
                    if atCursor <= cursor.countAtTime { continue }
                }
            }
            fresh.append(CollectedLine(time: line.time, stderr: line.stream == .stderr, text: line.text))
        }
        guard let last = fresh.last else {
            rememberMark()
            return nil
        }
        let lastMicros = Self.micros(last.time)
        let sameTime =
            fresh.reversed().prefix { Self.micros($0.time) == lastMicros }.count
            + (cursor?.timeMicros == lastMicros ? cursor!.countAtTime : 0)
        // Folder per container (name and id): two containers never share a segment.
        let replica = "\(container.name)-\(container.id.prefix(12))"
        let base = try logs.writableSegment(app: app, replica: replica, firstTime: fresh[0].time)
        if let cursor, cursor.base != base {
            // Rotated (or moved): the old segment keeps exactly its committed lines.
            LogSegment.truncate(cursor.base, text: cursor.textSize, index: cursor.indexSize)
        }
        let sizes = try LogSegment.append(fresh, to: base)
        let next = LogCursor(
            container: container.id, base: base, textSize: sizes.text, indexSize: sizes.index, timeMicros: lastMicros,
            countAtTime: sameTime)
        try store.saveLogCursor(next, at: now)
        rememberMark()
        return next
    }

    /// Once a minute: cursors of listed containers are marked seen, those of containers gone for an
    /// hour are dropped, and retention runs.
    private func housekeeping(_ listed: [String], now: Date) throws {
        let due = memory.withLock { memory in
            guard now.timeIntervalSince(memory.lastHousekeeping) >= 60 else { return false }
            memory.lastHousekeeping = now
            return true
        }
        guard due else { return }
        // Replicas gone from every node: nothing more to check or report about them.
        let present = Set(listed)
        memory.withLock { memory in
            memory.checked.formIntersection(present)
            memory.problems.formIntersection(present)
            memory.outputMarks = memory.outputMarks.filter { present.contains($0.key) }
        }
        try store.touchLogCursors(listed, at: now)
        try store.forgetLogCursors(notSeenSince: now.addingTimeInterval(-3600))
        let removed = logs.retain(maxAge: retention.maxAge.seconds, maxBytes: retention.maxBytes, now: now)
        if removed > 0 { log("logs: retention removed \(removed) segment\(removed == 1 ? "" : "s")") }
    }

    static func micros(_ time: Date) -> Int64 { Int64((time.timeIntervalSince1970 * 1_000_000).rounded()) }
}
