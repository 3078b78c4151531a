import Foundation
import ReconcileModel
import ReconcilePlanner

let now = Date(timeIntervalSince1970: 1_800_000_000)
let gi: Int64 = 1 << 30

func node(
    _ name: String, cpu: Int64 = 4000, memory: Int64 = 8 * gi, process: Bool = false, labels: [String: String] = [:],
    unreachableSince: Date? = nil
) -> ObservedNode {
    ObservedNode(
        name: name, capacity: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory)),
        labels: labels, isProcessNode: process, unreachableSince: unreachableSince)
}

func app(
    _ name: String, replicas: Int = 3, image: String = "web:1", cpu: Int64 = 500, memory: Int64 = 256 << 20,
    maxSurge: Int = 1, maxUnavailable: Int = 0, minReady: Timespan = .zero, autoRollback: Bool = true,
    restart: RestartPolicy = .always, require: [String: String] = [:], spread: Bool = true
) -> AppSpec {
    AppSpec(
        name: name, image: image, replicas: replicas,
        resources: Resources(cpu: CPUQuantity(millicores: cpu), memory: MemoryQuantity(bytes: memory)),
        update: UpdateStrategy(
            maxSurge: maxSurge, maxUnavailable: maxUnavailable, minReadyTime: minReady, progressDeadline: .minutes(5),
            autoRollback: autoRollback),
        placement: Placement(require: require, spread: spread), restart: restart)
}

/// A replica of `spec` (by default ready for an hour) in `slot` on `node`.
func replica(
    of spec: AppSpec, slot: Int, on node: String, ready: Bool = true, readyFor: TimeInterval = 3600,
    status: ObservedContainer.Status = .running, startedAgo: TimeInterval = 7200, id: String? = nil
) -> ObservedContainer {
    ObservedContainer(
        id: id ?? "\(spec.name)-\(slot)-\(SpecHash.of(spec).prefix(6))-\(node)", node: node, app: spec.name, slot: slot,
        specHash: SpecHash.of(spec), resources: spec.resources, status: status,
        readySince: ready ? now.addingTimeInterval(-readyFor) : nil, startedAt: now.addingTimeInterval(-startedAgo))
}

func plan(
    _ apps: [AppSpec], _ nodes: [ObservedNode], _ containers: [ObservedContainer] = [],
    failed: [String: String] = [:], previous: [String: AppSpec] = [:]
) -> Plan {
    Planner.plan(
        desired: DesiredState(apps: apps), observed: Observed(nodes: nodes, containers: containers),
        failedRollouts: failed, previous: previous, now: now)
}
