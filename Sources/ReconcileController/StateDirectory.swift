import Foundation

/// The state directory holds the store, logs, process records, git mirrors and tokens: only its
/// owner may read it. `secure` is called before anything is written there.
public enum StateDirectory {
    /// Sets the process's umask to 077 (so every file and folder made from now on, by this process
    /// and by the shims and commands it starts, is private), creates the folder 0700, and takes the
    /// group and other bits off everything already inside (a state directory an older version
    /// left 0755/0644). Symbolic links are not followed.
    public static func secure(_ path: String) throws {
        umask(0o077)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        tighten(path)
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            tighten(path + "/" + relative)
        }
    }

    private static func tighten(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK, info.st_mode & 0o077 != 0 else { return }
        chmod(path, info.st_mode & 0o7700)
    }
}
