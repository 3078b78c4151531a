import Foundation
import ReconcileDrivers

/// TCP helpers for tests on 127.0.0.1.
public enum Loopback {
    /// A port that was free a moment ago (bound to port 0, read, released).
    public static func freePort() throws -> Int {
        guard let port = HostPorts.freeLoopbackPort() else { throw CocoaError(.fileReadUnknown) }
        return port
    }

    /// A port that refuses connections for as long as the returned socket stays open: bound, never
    /// listening, so no other test can take it meanwhile. Close the descriptor when done.
    public static func refusingPort() throws -> (port: Int, descriptor: Int32) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard descriptor >= 0, bound == 0, named == 0 else {
            close(descriptor)
            throw CocoaError(.fileReadUnknown)
        }
        return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
    }

    /// True when a TCP connection to host:port opens.
    public static func canConnect(port: Int, host: String = "127.0.0.1") -> Bool {
        guard let fd = connected(port: port, host: host) else { return false }
        close(fd)
        return true
    }

    /// Connects, reads until the server closes (or `timeout` seconds pass) and returns what it sent;
    /// nil when the connection is refused.
    public static func readAll(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 10) -> String? {
        read(port: port, host: host, timeout: timeout)?.text
    }

    /// What the server sent, and whether it ended the connection (false: `timeout` passed first);
    /// nil when the connection is refused. `pause` seconds between reads make a slow reader.
    public static func read(
        port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 10, pause: TimeInterval = 0
    ) -> (text: String, ended: Bool)? {
        guard let fd = connected(port: port, host: host) else { return nil }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let deadline = Date().addingTimeInterval(timeout)
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ended = false
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 || (count < 0 && errno == ECONNRESET) { ended = true }
            // A socket with SO_RCVTIMEO returns EINTR on any caught signal even with SA_RESTART
            // (signal(7)), and test processes catch SIGCHLD from the children other tests start:
            // that once ended a read early with nothing.
            if count < 0, errno == EINTR, Date() < deadline { continue }
            if count <= 0 { break }
            data += buffer[0..<count]
            if pause > 0 { usleep(useconds_t(pause * 1_000_000)) }
        }
        return (String(decoding: data, as: UTF8.self), ended)
    }

    /// A socket connected to host:port, or nil when the connection is refused.
    public static func connected(port: Int, host: String = "127.0.0.1") -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        var result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0, errno == EINTR {
            // An interrupted connect goes on in the background: wait for it to finish.
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if poll(&entry, 1, 10_000) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0, code == 0 {
                result = 0
            }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Waits until something accepts connections on 127.0.0.1:port (without holding a thread of
    /// the cooperative pool while it waits; see `Blocking`).
    public static func waitForListener(port: Int, timeout: TimeInterval = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if canConnect(port: port) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return canConnect(port: port)
    }

    /// The same for synchronous fixtures (a git daemon's init): it holds its thread while it
    /// waits, so keep it to servers that start in well under a second.
    public static func blockingWaitForListener(port: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if canConnect(port: port) { return true }
            usleep(20_000)
        }
        return canConnect(port: port)
    }
}
