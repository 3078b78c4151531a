import Foundation

/// What `stat` says of a few files (size, inode, modification time), to tell cheaply whether any of
/// them changed: files only appended to, and rotated by renaming, change their mark with every write.
enum FileMark {
    /// Four numbers per file; a missing file is -1.
    static func of(_ paths: [String]) -> [Int64] {
        var mark: [Int64] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                mark.append(-1)
                continue
            }
            mark += [
                Int64(info.st_size), Int64(bitPattern: UInt64(info.st_ino)), Int64(info.st_mtim.tv_sec),
                Int64(info.st_mtim.tv_nsec),
            ]
        }
        return mark
    }
}
