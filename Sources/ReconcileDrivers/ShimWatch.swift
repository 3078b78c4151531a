import CPidfd
import Foundation
import ReconcileShimCore
import Synchronization

/// Whether each running process's shim is still alive, asked on every listing. A shim is identified
/// by pid plus start time (pids are reused); reading `/proc/<pid>/stat` for every process on every
/// listing was most of an idle controller's CPU, so each shim is verified once and then watched
/// through a pidfd, which polls readable once that very process has ended (a reused pid cannot fool
/// it). Where the kernel has no pidfd_open (before 5.3), every question reads the start time.
final class ShimWatch: Sendable {
    private struct Watched {
        var pid: Int32
        var startTime: UInt64
        var descriptor: Int32
    }

    private let watched = Mutex<[String: Watched]>([:])

    deinit {
        watched.withLock { entries in
            for entry in entries.values { close(entry.descriptor) }
        }
    }

    /// True while the shim `pid` started at `startTime` (clock ticks since boot) runs.
    func isRunning(id: String, pid: Int32, startTime: UInt64) -> Bool {
        let known = watched.withLock { $0[id] }
        if let known, known.pid == pid, known.startTime == startTime {
            switch reconcile_pidfd_exited(known.descriptor) {
            case 0: return true
            case 1: return false
            default: break
            }
        }
        forget(id)
        // Opened before the start time is compared: the pidfd then names the process verified.
        let descriptor = reconcile_pidfd_open(pid)
        guard ProcessRecords.startTime(of: pid) == startTime else {
            if descriptor >= 0 { close(descriptor) }
            return false
        }
        guard descriptor >= 0 else { return true }
        watched.withLock { $0[id] = Watched(pid: pid, startTime: startTime, descriptor: descriptor) }
        return reconcile_pidfd_exited(descriptor) != 1
    }

    /// Stops watching processes not among `ids` (removed, possibly by another driver instance).
    func keep(only ids: Set<String>) {
        let gone = watched.withLock { entries in
            let gone = entries.filter { !ids.contains($0.key) }
            for id in gone.keys { entries.removeValue(forKey: id) }
            return gone.values
        }
        for entry in gone { close(entry.descriptor) }
    }

    /// Stops watching `id` (its process ended or its folder is gone).
    func forget(_ id: String) {
        if let entry = watched.withLock({ $0.removeValue(forKey: id) }) { close(entry.descriptor) }
    }
}
