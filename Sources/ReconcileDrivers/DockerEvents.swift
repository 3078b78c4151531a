import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Exit notices of a Docker engine from its event stream (`GET /events`, our containers' `die` and
/// `oom` events), one stream per engine however many drivers talk to it. After a drop (the engine
/// restarted, the connection broke) it reconnects with `since` the last event it saw, and sends a
/// notice once connected again, so a waiter lists the node and sees any exit the gap hid (an
/// engine's event buffer does not survive its restart). While disconnected the notices are not
/// live and the DAG runner polls; after 12 failed attempts in a row (about a minute) the stream
/// stops until asked for again.
///
/// The engine sends `die` before its listing says so: it tears the container's network and mounts
/// down first (tens to hundreds of milliseconds), and only then updates the view `GET
/// /containers/json` reads. The stream remembers the containers it saw die, so a listing taken in
/// between can ask the engine about those (`recentlyDied`) instead of reporting them running and
/// leaving a waiter with a notice already spent.
final class DockerEvents: Sendable {
    let notices = ExitNotices()
    /// Containers seen dying, by id, with when: kept `diedMemory` seconds.
    private let died = Mutex<[String: Date]>([:])
    static let diedMemory: TimeInterval = 60
    /// Full states of running containers (an inspect), by id, with when they were read: what a
    /// running container's inspect says does not change until it dies, is paused, updated or
    /// renamed, which this stream hears. Forgotten on those events, on every (re)connect of the
    /// stream, and after `runningMemory` (in case a stream stalls without breaking).
    private let running = Mutex<[String: (info: ContainerInfo, at: Date)]>([:])
    static let runningMemory: TimeInterval = 600
    /// Moves on every event that changes what a listing of our containers says (created, started,
    /// died, destroyed, renamed, paused, updated), and on every connect and drop of the stream: a
    /// listing taken at one generation still holds while the generation has not moved.
    private let generation = Atomic<Int>(0)
    private let baseURL: String
    private let client: HTTPClient
    private let node: String

    nonisolated(unsafe) private static var streams: [String: DockerEvents] = [:]
    private static let registry = NSLock()

    /// The stream of the engine at `baseURL` if one runs (a listing does not start one).
    static func existing(baseURL: String) -> DockerEvents? { registry.withLock { streams[baseURL] } }

    /// Containers the stream saw die in the last minute (the listing may still call them running).
    func recentlyDied(now: Date = Date()) -> Set<String> {
        died.withLock { died in
            died = died.filter { now.timeIntervalSince($0.value) < Self.diedMemory }
            return Set(died.keys)
        }
    }

    /// The generation a listing taken now belongs to, or nil while the stream is down (nothing
    /// then says when a listing went stale).
    func listingGeneration() -> Int? {
        guard notices.isLive else { return nil }
        return generation.load(ordering: .acquiring)
    }

    private func moved() { generation.add(1, ordering: .releasing) }

    /// The full state read of a container the listing shows running, while the stream is live and
    /// has heard no exit of it since.
    func runningState(_ id: String, now: Date = Date()) -> ContainerInfo? {
        guard notices.isLive else { return nil }
        return running.withLock { running in
            guard let entry = running[id], now.timeIntervalSince(entry.at) < Self.runningMemory else { return nil }
            return entry.info
        }
    }

    /// Keeps a running container's full state (anything else is forgotten).
    func remember(_ info: ContainerInfo, id: String, now: Date = Date()) {
        running.withLock { running in
            running[id] = info.status == .running && notices.isLive ? (info, now) : nil
        }
    }

    /// After a listing: the exits it now agrees with (or of containers gone) need no more correcting,
    /// and what is kept of containers it no longer lists is dropped.
    func listed(_ present: Set<String>, settled: some Sequence<String>) {
        died.withLock { died in for id in settled { died[id] = nil } }
        running.withLock { running in running = running.filter { present.contains($0.key) } }
    }

    /// The running stream of the engine at `baseURL` (started when there is none).
    static func stream(baseURL: String, client: HTTPClient, node: String) -> DockerEvents {
        registry.withLock {
            if let existing = streams[baseURL] { return existing }
            let events = DockerEvents(baseURL: baseURL, client: client, node: node)
            streams[baseURL] = events
            Task.detached { await events.follow() }
            return events
        }
    }

    private init(baseURL: String, client: HTTPClient, node: String) {
        self.baseURL = baseURL
        self.client = client
        self.node = node
    }

    /// Events of our containers that change what a listing or an inspect of them says. Exits (`die`,
    /// `oom`) and changes made by hand (`destroy`, `rename`, `pause`, `unpause`, `update`) are
    /// notices (the node is looked at again); `create` and `start` (our own, mostly) only move the
    /// generation.
    static let filters =
        #"{"type":["container"],"event":["create","start","die","oom","destroy","rename","pause","unpause","update"],"label":["\#(ManagementLabel.key)=\#(ManagementLabel.value)"]}"#

    private func follow() async {
        var since: String?
        var failures = 0
        while failures < 12 {
            // Unversioned: the engine's own API version (the stream's format is the same in all).
            var query = "/events?filters=" + DockerDriver.queryEncode(Self.filters)
            // Resume where the last stream stopped (the engine replays what it still has).
            if let since { query += "&since=" + since }
            var request = HTTPClientRequest(url: baseURL + query)
            request.method = .GET
            request.headers.add(name: "Host", value: "docker")
            do {
                let response = try await client.execute(request, deadline: .distantFuture)
                guard response.status == .ok else {
                    throw DriverError(.engine, node: node, operation: "events", message: "\(response.status)")
                }
                failures = 0
                // Exits during the gap are unknown: every remembered state is read again.
                running.withLock { $0 = [:] }
                moved()
                notices.setLive(true)
                // Connected (again): whatever exited meanwhile is found by the listing this notice causes.
                notices.notify()
                var pending = Data()
                for try await chunk in response.body {
                    pending.append(contentsOf: chunk.readableBytesView)
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = pending[pending.startIndex..<newline]
                        pending.removeSubrange(pending.startIndex...newline)
                        if let event = try? JSONSerialization.jsonObject(with: line) as? [String: Any] {
                            if let nanos = event["timeNano"] as? Int64 ?? (event["timeNano"] as? Int).map(Int64.init) {
                                since = String(format: "%d.%09d", nanos / 1_000_000_000, nanos % 1_000_000_000)
                            }
                            let action = event["status"] as? String ?? event["Action"] as? String ?? ""
                            let id = event["id"] as? String ?? (event["Actor"] as? [String: Any])?["ID"] as? String
                            // Our own creates and starts change no kept state and wake nobody.
                            let notice = action != "create" && action != "start"
                            if let id, notice {
                                if action == "die" { died.withLock { $0[id] = Date() } }
                                running.withLock { $0[id] = nil }
                            }
                            moved()
                            if notice { notices.notify() }
                        }
                    }
                }
            } catch {
                failures += 1
            }
            notices.setLive(false)
            moved()
            try? await Task.sleep(for: .milliseconds(min(5_000, 250 * (1 << min(failures, 5)))))
        }
        Self.registry.withLock { Self.streams[baseURL] = nil }
    }
}
