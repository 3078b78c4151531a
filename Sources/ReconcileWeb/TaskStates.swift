import Foundation
import ReconcileAPI
import ReconcileModel
import ReconcilePlanner

/// A task's state in one run as the pages colour it, derived by the planner from the run's attempts
/// (so `upstreamFailed` and `retrying` are exactly what the controller decides).
public enum TaskStates {
    /// Per task of `dag`: succeeded, failed, upstreamFailed, skipped, running, retrying, waiting, or
    /// none (the run has not reached it). Tasks that only the attempts know (removed from git since)
    /// keep their latest attempt's state.
    public static func of(dag: DAGSpec?, runState: String, attempts: [AttemptView], now: Date) -> [String: String] {
        let current = attempts.filter { !$0.cleared }
        var states: [String: String] = [:]
        for attempt in current.sorted(by: { $0.tryNumber < $1.tryNumber }) {
            states[attempt.task] = attempt.state == "recorded" ? "running" : attempt.state
        }
        guard let dag else { return states }
        var priorTries: [String: Int] = [:]
        for attempt in attempts where attempt.cleared {
            priorTries[attempt.task] = max(priorTries[attempt.task] ?? 0, attempt.tryNumber)
        }
        let taskAttempts = current.map { attempt -> TaskAttempt in
            let at = attempt.finishedAt ?? attempt.startedAt
            let outcome: TaskAttempt.Outcome =
                switch attempt.state {
                case "succeeded": .succeeded(at: at)
                case "failed": .failed(exitCode: attempt.exitCode ?? -1, at: at)
                case "timedOut": .timedOut(at: at)
                case "cancelled": .failed(exitCode: attempt.exitCode ?? -1, at: at)
                default: .running
                }
            return TaskAttempt(
                task: attempt.task, tryNumber: attempt.tryNumber, startedAt: attempt.startedAt, outcome: outcome,
                marked: attempt.marked)
        }
        let decision = TaskPlanner.decide(
            dag: dag, runID: "", attempts: taskAttempts, now: now, priorTries: priorTries)
        for task in dag.tasks {
            let state = decision.states[task.name]
            switch state {
            case .succeeded: states[task.name] = "succeeded"
            case .failed:
                let recorded = states[task.name]
                states[task.name] = recorded == "timedOut" || recorded == "cancelled" ? recorded : "failed"
            case .upstreamFailed: states[task.name] = "upstreamFailed"
            case .skipped: states[task.name] = "skipped"
            case .retrying: states[task.name] = "retrying"
            case .running:
                // Decided to start now, or running: both show as running once an attempt exists.
                states[task.name] = current.contains { $0.task == task.name } ? "running" : "queued"
            case .waiting: states[task.name] = runState == "running" ? "waiting" : "none"
            case nil: states[task.name] = "none"
            }
        }
        // A cancelled run starts nothing more: what had not finished is cancelled.
        if runState == "cancelled" {
            for (task, state) in states
            where !["succeeded", "failed", "timedOut", "upstreamFailed", "skipped"].contains(state) {
                states[task] = "cancelled"
            }
        }
        return states
    }
}
