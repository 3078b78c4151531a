import Foundation
import ReconcileAlerts
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileStore

extension DAGRunner {
    /// A sensor attempt, polled when its interval has passed since the last poll (at once after a
    /// restart): succeeded when its condition holds, timed out (retries apply) once `timeout` has
    /// passed since it started, else still running with the next poll due.
    func pollSensor(
        _ record: AttemptRecord, sensor: SensorSpec, now: Date, pass: inout PassState
    ) async
        -> AttemptRecord
    {
        var record = record
        let key = record.containerName
        let last = memory.lastSensorPoll(key)
        if let last, now < last.at.addingTimeInterval(sensor.interval.seconds) {
            let due = last.at.addingTimeInterval(sensor.interval.seconds)
            pass.nextSensorPoll = min(pass.nextSensorPoll ?? due, due)
            return record
        }
        let (held, detail) = await SensorProbe.poll(sensor)
        let polledAt = Date()
        if held {
            record.state = .succeeded
            record.exitCode = 0
            record.finishedAt = polledAt
            memory.sensorPolled(key, at: polledAt, detail: nil)
        } else if polledAt >= record.startedAt.addingTimeInterval(sensor.timeout.seconds) {
            record.state = .timedOut
            record.finishedAt = polledAt
            record.error = .waitTimedOut(sensor.timeout, last: detail)
            memory.sensorPolled(key, at: polledAt, detail: nil)
        } else {
            memory.sensorPolled(key, at: polledAt, detail: detail)
            let due = min(
                polledAt.addingTimeInterval(sensor.interval.seconds),
                record.startedAt.addingTimeInterval(sensor.timeout.seconds))
            pass.nextSensorPoll = min(pass.nextSensorPoll ?? due, due)
        }
        return record
    }

    /// Takes what a task that exited 0 wrote to `$RECONCILE_OUTPUTS`; a file that is too large or
    /// not `KEY=VALUE` lines fails the attempt, saying why (its downstream must not run on a guess).
    func readOutputs(_ record: inout AttemptRecord, driver: any ContainerDriver, id: String) async {
        let bytes: [UInt8]?
        do {
            bytes = try await driver.outputs(id, limit: TaskOutputs.maxBytes)
        } catch {
            record.state = .failed
            record.error = .outputs("cannot read them: \(error)")
            return
        }
        guard let bytes else { return }
        do {
            record.outputs = try TaskOutputs.parse(bytes)
        } catch {
            record.state = .failed
            record.error = .outputs(error.message)
        }
    }

    /// `OUTPUT_<TASK>_<KEY>` of every task upstream of `task` (through `after:`, transitively), from
    /// each one's latest succeeded try in the run.
    static func outputVariables(for task: TaskSpec, dag: DAGSpec, records: [AttemptRecord]) -> [String: String] {
        guard !task.after.isEmpty else { return [:] }
        var variables: [String: String] = [:]
        for name in dag.upstream(of: task.name).sorted() {
            guard
                let latest = records.filter({ $0.task == name && $0.state == .succeeded && !$0.cleared })
                    .max(by: { $0.tryNumber < $1.tryNumber }),
                let outputs = latest.outputs
            else { continue }
            for (key, value) in outputs { variables[TaskSpec.outputVariable(task: name, key: key)] = value }
        }
        return variables
    }

    /// Cancelled runs: every try under way is stopped (its process tree, within a 10 s grace) and
    /// recorded `cancelled`, side by side; their output is saved and containers removed like any
    /// finished attempt's. Tasks that never started get no attempt. The step finishes the runs.
    func cancel(
        _ cancels: [DAGActions.Cancel], now: Date, runs: inout [String: RunContext], pass: inout PassState
    ) async throws {
        var stops: [(node: String, id: String)] = []
        var changed: [AttemptRecord] = []
        for cancel in cancels {
            let key = Self.key(cancel.dag, cancel.runID)
            guard var context = runs[key] else { continue }
            for (task, tryNumber) in cancel.running.sorted(by: { $0.key < $1.key }) {
                guard
                    let index = context.records.firstIndex(where: {
                        $0.task == task && $0.tryNumber == tryNumber && !$0.cleared
                    })
                else { continue }
                var record = context.records[index]
                if let (node, info) = pass.containers[record.containerName] {
                    stops.append((node, info.id))
                    pass.finished.append((cancel.dag, cancel.runID, record.containerName, node, info.id))
                }
                record.state = .cancelled
                record.finishedAt = now
                if record.node.isEmpty { memory.sensorPolled(record.containerName, at: now, detail: nil) }
                context.records[index] = record
                changed.append(record)
            }
            runs[key] = context
            pass.events.append(
                "~ dag \(cancel.dag): run \(cancel.runID): cancelled, \(cancel.running.count) running "
                    + "tr\(cancel.running.count == 1 ? "y" : "ies") stopped")
        }
        _ = await Bounded.map(stops, limit: Self.parallelStarts) { stop in
            try? await drivers[stop.node]?.stop(stop.id, grace: .seconds(10))
        }
        try store.saveAttempts(changed)
    }
}
