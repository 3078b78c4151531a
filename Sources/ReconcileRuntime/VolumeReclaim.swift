import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileStore

/// What happens to a Volume's data when the Volume leaves git: the store remembers every Volume
/// git declared (its node, its reclaim policy as last declared); one that is gone with `reclaim:
/// delete` is deleted on its node once no container uses it (tried again each pass until then);
/// with `retain` it is only forgotten. The controller deletes volume data in no other case.
public enum VolumeReclaim {
    /// - Parameter nodes: the pass's nodes (the implicit `local` one included), for Volumes that
    ///   name none.
    /// - Returns: a line per Volume deleted, forgotten, or waiting.
    public static func run(
        desired: DesiredState, nodes: [NodeSpec], drivers: [String: any ContainerDriver], store: Store
    ) async throws -> [String] {
        let onlyNode = nodes.count == 1 ? nodes[0].name : nil
        var lines: [String] = []
        let known = Dictionary(try store.knownVolumes().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for volume in desired.volumes {
            guard let node = volume.node ?? onlyNode else { continue }
            let row = Store.KnownVolume(name: volume.name, node: node, reclaim: volume.reclaim.rawValue)
            if known[volume.name] != row { try store.rememberVolume(row) }
        }
        let declared = Set(desired.volumes.map(\.name))
        for gone in known.values.sorted(by: { $0.name < $1.name }) where !declared.contains(gone.name) {
            guard gone.reclaim == VolumeSpec.Reclaim.delete.rawValue else {
                try store.forgetVolume(gone.name)
                lines.append("- volume \(gone.name): removed from git; its data is kept on node \(gone.node)")
                continue
            }
            guard let driver = drivers[gone.node] else {
                try store.forgetVolume(gone.name)
                lines.append("- volume \(gone.name): removed from git; node \(gone.node) is gone, nothing to delete")
                continue
            }
            do {
                try await driver.removeVolume(gone.name)
                try store.forgetVolume(gone.name)
                lines.append(
                    "- volume \(gone.name): removed from git (reclaim: delete); its data on \(gone.node) is deleted")
            } catch let error as DriverError where error.kind == .conflict || error.kind == .unreachable {
                lines.append("~ volume \(gone.name): removed from git (reclaim: delete); waiting: \(error.message)")
            }
        }
        return lines
    }
}
