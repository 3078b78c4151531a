import Foundation
import ReconcileModel

/// `files:` and `volumes:` of a process: the process runs in its folder, and what a Docker
/// container would see at `/some/path` it finds at `$FILES/some/path`
/// (`<state>/processes/<id>/files/some/path`).
///
/// - Files from git and inline files are written there with the owner's bits of their mode (the
///   folder is private to the controller's user).
/// - Secret files never touch the state directory: they are written to a private folder on the
///   host's memory file system (`/dev/shm/reconcile-<uid>/<id>/`, removed with the process) and
///   linked from `$FILES`.
/// - Named volumes are folders `<state>/volumes/<name>/`; they and host paths are linked from
///   `$FILES`. A process can write through a read-only link: `readOnly` is enforced on Docker only.
struct ProcessFiles {
    let processRoot: String
    let volumeRoot: String
    let secretRoot: String

    init(processRoot: String) {
        self.processRoot = processRoot
        volumeRoot = (processRoot as NSString).deletingLastPathComponent + "/volumes"
        secretRoot = "/dev/shm/reconcile-\(getuid())"
    }

    func filesFolder(_ id: String) -> String { processRoot + "/" + id + "/files" }

    /// Writes the files and links the mounts; returns `$FILES`.
    func prepare(_ spec: ContainerSpec, id: String) throws -> String {
        let base = filesFolder(id)
        try makeFolder(base, mode: 0o700)
        for mount in spec.mounts {
            let target: String
            switch mount.source {
            case .volume(let name):
                target = try volumeFolder(name)
            case .hostPath(let path):
                target = path
            }
            let link = base + mount.target
            try makeFolder((link as NSString).deletingLastPathComponent, mode: 0o700)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        }
        for file in spec.files {
            let place = base + file.path
            try makeFolder((place as NSString).deletingLastPathComponent, mode: 0o700)
            if file.secret {
                let folder = secretRoot + "/" + id
                try makeFolder(secretRoot, mode: 0o700)
                try makeFolder(folder, mode: 0o700)
                let stored = folder + "/" + String(StableHash.fnv1a(file.path), radix: 16)
                try write(file.content, to: stored, mode: file.mode & 0o700)
                try FileManager.default.createSymbolicLink(atPath: place, withDestinationPath: stored)
            } else {
                try write(file.content, to: place, mode: file.mode & 0o700)
            }
        }
        return base
    }

    /// `<state>/volumes/<name>`, created when missing.
    func volumeFolder(_ name: String) throws -> String {
        let folder = volumeRoot + "/" + name
        try makeFolder(volumeRoot, mode: 0o700)
        try makeFolder(folder, mode: 0o700)
        return folder
    }

    /// Removes the process's secret files (its folder goes with the process folder).
    func removeSecrets(_ id: String) {
        try? FileManager.default.removeItem(atPath: secretRoot + "/" + id)
    }

    private func makeFolder(_ path: String, mode: Int) throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
    }

    /// Created with its mode from the start (never readable by others, not even for a moment).
    private func write(_ data: Data, to path: String, mode: Int) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode | 0o200))
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        var written = 0
        try data.withUnsafeBytes { bytes in
            while written < bytes.count {
                let result = Foundation.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                guard result > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                written += result
            }
        }
        guard fchmod(descriptor, mode_t(mode)) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
