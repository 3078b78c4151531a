#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The abstract unix socket a process node's shims send exit notices to, one per state folder:
/// the shim sends (`notify`), the driver's `ExitNotices` listens.
public enum ExitNoticeSocket {
    /// Sent by a shim: best effort, never blocks.
    public static func notify(root: String, id: String) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(id.utf8)
        _ = withAddress(of: root) { address, length in
            sendto(descriptor, bytes, bytes.count, Int32(MSG_DONTWAIT), address, length)
        }
    }

    /// The abstract socket address of a folder: no file, no path length limit on the folder.
    public static func withAddress<T>(of root: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array("reconcile-exits-\(String(StableHash.fnv1a(root), radix: 16))".utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0  // abstract namespace
            for (index, byte) in name.enumerated() { path[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.count)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
