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
        /// Run volumes of succeeded runs still to remove: node -> node-side volume names.
        var volumesToRemove: [String: Set<String>] = [:]
        /// Sensor attempts (by attempt key): when last polled, and what that poll saw.
        var sensorPolls: [String: (at: Date, detail: String)] = [:]
    }

    private let state = Mutex(State())

    func capacity(of node: String) -> Resources? { state.withLock { $0.capacity[node] } }

    func lastSensorPoll(_ key: String) -> (at: Date, detail: String)? { state.withLock { $0.sensorPolls[key] } }

    func sensorPolled(_ key: String, at time: Date, detail: String?) {
        state.withLock { state in
            if let detail { state.sensorPolls[key] = (time, detail) } else { state.sensorPolls[key] = nil }
        }
    }

    func removeVolumeLater(_ name: String, on node: String) {
        state.withLock { _ = $0.volumesToRemove[node, default: []].insert(name) }
    }

    func volumeRemoved(_ name: String, on node: String) {
        state.withLock { _ = $0.volumesToRemove[node]?.remove(name) }
    }

    var volumesToRemove: [String: Set<String>] { state.withLock { $0.volumesToRemove } }

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

    /// What to write so the store holds `reasons` for the run: nil when nothing changed since the
    /// last write; `.all` when this controller has not written the run yet (the store may hold
    /// another controller's); else only the tasks whose reason changed and those that stopped
    /// waiting (a chain of 200 tasks changes one or two per step, not 200).
    func waitingChange(dag: String, runID: String, _ reasons: [String: WaitingReason]) -> WaitingChange? {
        state.withLock { state in
            let key = dag + "\u{0}" + runID
            guard let last = state.waiting[key] else {
                state.waiting[key] = reasons
                return .all
            }
            guard last != reasons else { return nil }
            state.waiting[key] = reasons
            let changed = reasons.filter { last[$0.key] != $0.value }
            let gone = last.keys.filter { reasons[$0] == nil }
            return .changes(changed: changed, gone: gone)
        }
    }

    enum WaitingChange {
        case all
        case changes(changed: [String: WaitingReason], gone: [String])
    }

    /// Forgets the reasons of runs that are no longer running.
    func keepWaiting(only keys: Set<String>) {
        state.withLock { state in state.waiting = state.waiting.filter { keys.contains($0.key) } }
    }
}
