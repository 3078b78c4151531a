import Foundation
import ReconcileRuntime
import Testing

@Suite struct StateDirectoryTests {
    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    /// A state directory an older version left open is made private, everything inside included
    /// (links not followed); a private one is not walked again.
    @Test func anOpenStateDirectoryIsMadePrivateOnce() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        let outside = root + "-outside"
        defer {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: outside)
        }
        try FileManager.default.createDirectory(atPath: root + "/logs/apps", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/reconcile.sqlite", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: root + "/logs/apps/segment", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: outside, contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        for path in [root, root + "/logs", root + "/logs/apps"] { chmod(path, 0o755) }
        for path in [root + "/reconcile.sqlite", root + "/logs/apps/segment", outside] { chmod(path, 0o644) }

        let previous = umask(0o022)
        try StateDirectory.secure(root)
        umask(previous)
        #expect(Self.mode(root) == 0o700)
        #expect(Self.mode(root + "/logs") == 0o700)
        #expect(Self.mode(root + "/logs/apps") == 0o700)
        #expect(Self.mode(root + "/reconcile.sqlite") == 0o600)
        #expect(Self.mode(root + "/logs/apps/segment") == 0o600)
        #expect(Self.mode(outside) == 0o644, "a link's target outside the state directory was changed")

        // Private already: the next start does not walk it (a file inside stays as it is).
        chmod(root + "/reconcile.sqlite", 0o640)
        try StateDirectory.secure(root)
        umask(previous)
        #expect(Self.mode(root + "/reconcile.sqlite") == 0o640)
    }
}
