import Foundation
import Synchronization

/// Free TCP ports on the loopback interface.
///
/// A process replica cannot be remapped like a container, so it is told which port to listen on.
/// A number found free by binding port 0 comes from the kernel's ephemeral range, the same range the
/// kernel hands to every outgoing connection and every other `bind(0)` on the host: between the
/// choice and the replica's own bind, another socket can take it, and then health probes and the
/// router reach a stranger on that port. Like Nomad's dynamic ports, replica ports therefore come
/// from a range below the ephemeral one (`replicaRange`), which the kernel never hands out by itself.
public enum HostPorts {
    /// Where process replicas' ports come from: 20000 up to the start of the kernel's ephemeral
    /// range (`/proc/sys/net/ipv4/ip_local_port_range`), at most 32767.
    public static let replicaRange: Range<Int> = {
        let ephemeralStart = ephemeralRange()?.lowerBound ?? 32768
        let upper = min(32768, ephemeralStart)
        // A host whose ephemeral range starts below 21000 leaves no room: use 20000–32767 anyway.
        return upper > 21000 ? 20000..<upper : 20000..<32768
    }()

    /// Ports handed out recently, which their replica may not have bound yet.
    private static let recent = Mutex<[Int: ContinuousClock.Instant]>([:])
    /// How long a port handed out stays reserved for its replica.
    private static let reservation: Duration = .seconds(120)

    /// A port of `replicaRange` that nothing listens on or is bound to now and that was not handed
    /// out in the last two minutes, tried from a random place; nil when none is free.
    public static func replicaPort() -> Int? { replicaPort(in: replicaRange) }

    /// A free port of `range` not handed out in the last two minutes (tests give a small range).
    public static func replicaPort(in range: Range<Int>) -> Int? {
        let now = ContinuousClock.now
        return recent.withLock { recent in
            recent = recent.filter { now - $0.value < reservation }
            let start = Int.random(in: range)
            for offset in 0..<range.count {
                let port = range.lowerBound + (start - range.lowerBound + offset) % range.count
                guard recent[port] == nil, isFree(port) else { continue }
                recent[port] = now
                return port
            }
            return nil
        }
    }

    /// A port that was free a moment ago (bound to port 0, read, released), or nil. It comes from the
    /// ephemeral range: for tests and for listeners bound at once, never for another process to bind later.
    public static func freeLoopbackPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard bind(fd, port: 0) == 0 else { return nil }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return named == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// The kernel's ephemeral port range, when it can be read.
    static func ephemeralRange() -> ClosedRange<Int>? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        else { return nil }
        let numbers = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1] else { return nil }
        return numbers[0]...numbers[1]
    }

    /// True when a socket can be bound to 127.0.0.1:`port` now (without SO_REUSEADDR, so a port
    /// with connections in TIME_WAIT counts as taken too).
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bind(fd, port: port) == 0
    }

    private static func bind(_ fd: Int32, port: Int) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
}
