import Foundation
import ReconcileModel
import ReconcilePlanner
import Synchronization

/// What a DAG runner keeps between passes, in memory only (a restarted controller starts afresh):
/// node capacities it read, which standing conditions it has reported, and since when it has seen a
/// container that was created but never started.
final class RunnerMemory: Sendable {
    private struct State {
        var capacity: [String: Resources] = [:]
        var notes: Set<String> = []
        var createdSince: [String: Date] = [:]
        var waiting: [String: [String: WaitingReason]] = [:]
    }

    private let state = Mutex(State())

    func capacity(of node: String) -> Resources? { state.withLock { $0.capacity[node] } }

    func setCapacity(_ capacity: Resources, of node: String) { state.withLock { $0.capacity[node] = capacity } }

    /// Keeps exactly `current` as the standing conditions and returns those not reported before, so a
    /// waiting task is reported once, and again only after it stopped waiting and waits anew.
    func newNotes(_ current: Set<String>) -> Set<String> {
        state.withLock { state in
            let new = current.subtracting(state.notes)
            state.notes = current
            return new
        }
    }

    /// When the container was first seen created and not started.
    func createdSince(_ name: String, now: Date) -> Date {
        state.withLock { state in
            if let since = state.createdSince[name] { return since }
            state.createdSince[name] = now
            return now
        }
    }

    func forgetCreated(_ name: String) { _ = state.withLock { $0.createdSince.removeValue(forKey: name) } }

    /// True when the run's waiting reasons differ from those last stored (then remembered as stored).
    func waitingChanged(dag: String, runID: String, _ reasons: [String: WaitingReason]) -> Bool {
        state.withLock { state in
            let key = dag + "\u{0}" + runID
            guard state.waiting[key] != reasons else { return false }
            state.waiting[key] = reasons
            return true
        }
    }

    /// Forgets the reasons of runs that are no longer running.
    func keepWaiting(only keys: Set<String>) {
        state.withLock { state in state.waiting = state.waiting.filter { keys.contains($0.key) } }
    }
}
