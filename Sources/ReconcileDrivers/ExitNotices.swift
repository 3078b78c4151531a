import Foundation
import ReconcileModel
import ReconcileShimCore

/// Push notice of exits. On a process node each shim, once it has recorded its process's exit,
/// sends the process id as one datagram to an abstract unix socket named after the node's folder;
/// the controller's driver listens there. On a Docker node the engine's event stream feeds it
/// (`DockerEvents`). A notice only wakes the caller early (it then lists the node as usual), so a
/// lost notice costs latency, never correctness; while a feed is down (`isLive` false) callers poll.
public final class ExitNotices: @unchecked Sendable {
    private let lock = NSLock()
    private var generation: UInt64 = 0
    private var waiters: [ExitSignal] = []
    private var live = true

    /// A notice source fed by `notify()` (an event stream), down until `setLive(true)`.
    init() { live = false }

    /// Whether notices arrive now: a socket listener always; an event stream while connected.
    public var isLive: Bool { lock.withLock { live } }

    func setLive(_ value: Bool) { lock.withLock { live = value } }

    /// Records a notice and wakes every waiter.
    func notify() {
        let woken: [ExitSignal] = lock.withLock {
            generation &+= 1
            defer { waiters = [] }
            return waiters
        }
        for signal in woken { signal.fire() }
    }

    /// Returns when any of the sources got a notice after its mark (at once if one has), or after
    /// `timeout` seconds.
    public static func wait(any marks: [(notices: ExitNotices, mark: UInt64)], timeout: Double) async {
        let signal = ExitSignal()
        var registered: [ExitNotices] = []
        for (notices, mark) in marks {
            let already = notices.lock.withLock {
                if notices.generation != mark { return true }
                notices.waiters.append(signal)
                return false
            }
            if already {
                signal.fire()
                break
            }
            registered.append(notices)
        }
        _ = await signal.wait(timeout: timeout)
        for notices in registered { notices.lock.withLock { notices.waiters.removeAll { $0 === signal } } }
    }

    /// One listener per folder per process (drivers made for the same folder share it).
    nonisolated(unsafe) private static var listeners: [String: ExitNotices] = [:]
    private static let registry = NSLock()

    /// The listener for `root`, or nil when the socket cannot be bound (another process listens).
    static func listening(on root: String) -> ExitNotices? {
        registry.withLock {
            if let existing = listeners[root] { return existing }
            guard let notices = ExitNotices(root: root) else { return nil }
            listeners[root] = notices
            return notices
        }
    }

    private init?(root: String) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let bound = ExitNoticeSocket.withAddress(of: root) { address, length in bind(descriptor, address, length) }
        guard bound == 0 else {
            close(descriptor)
            return nil
        }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count < 0 && errno != EINTR { return }
                notify()
            }
        }
    }

    /// Grows with every notice.
    public var mark: UInt64 { lock.withLock { generation } }

    /// Returns when a notice arrives after `mark` was read (at once if one has), or after `timeout`.
    public func wait(after mark: UInt64, timeout: Double) async {
        let signal = ExitSignal()
        let already = lock.withLock {
            if generation != mark { return true }
            waiters.append(signal)
            return false
        }
        if already { return }
        if await !signal.wait(timeout: timeout) {
            lock.withLock { waiters.removeAll { $0 === signal } }
        }
    }
}
