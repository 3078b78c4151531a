import ReconcileDrivers
import ReconcilePlanner

extension OwnershipLabels {
    /// The labels of a replica started from `start` at git `revision`.
    static func labels(for start: StartContainer, revision: String) -> [String: String] {
        [
            Self.app: start.app, Self.slot: String(start.slot), Self.spec: start.specHash, Self.revision: revision,
            Self.restarts: String(start.restarts),
        ]
    }

    /// The replica a container is (not ready: readiness comes from the health monitor), or nil when it
    /// carries no App labels.
    static func replica(_ info: ContainerInfo, node: String) -> ObservedContainer? {
        guard let name = info.labels[app], let slotText = info.labels[slot], let slotNumber = Int(slotText),
            let hash = info.labels[spec]
        else { return nil }
        let status: ObservedContainer.Status =
            info.status == .exited
            ? .exited(code: info.exitCode ?? -1, at: info.finishedAt ?? info.startedAt ?? .distantPast) : .running
        return ObservedContainer(
            id: info.id, node: node, app: name, slot: slotNumber, specHash: hash, resources: .defaultRequest,
            status: status, readySince: nil, startedAt: info.startedAt,
            restarts: info.labels[restarts].flatMap(Int.init) ?? 0,
            outOfMemory: info.status == .exited && info.oomKilled)
    }
}
