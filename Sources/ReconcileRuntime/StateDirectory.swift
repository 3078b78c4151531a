import Foundation

/// The state directory holds the store, logs, process records, git mirrors and tokens: only its
/// owner may read it. `secure` is called before anything is written there.
public enum StateDirectory {
    /// Sets the process's umask to 077 (so every file and folder made from now on, by this process
    /// and by the shims and commands it starts, is private) and creates the folder 0700. A folder
    /// that is not private yet (one an older version left 0755/0644) has the group and other bits
    /// taken off everything inside, and then off itself: a walk that a crash cut short is done
    /// again at the next start, and a private folder is not walked at all. Symbolic links are not
    /// followed.
    public static func secure(_ path: String) throws {
        umask(0o077)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            tighten(path + "/" + relative)
        }
        tighten(path)
    }

    private static func tighten(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK, info.st_mode & 0o077 != 0 else { return }
        chmod(path, info.st_mode & 0o7700)
    }
}
