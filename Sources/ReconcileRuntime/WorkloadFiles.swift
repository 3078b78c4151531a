import Foundation
import ReconcileDrivers
import ReconcileModel
import ReconcileSecrets

/// An App's or task's `files:` and `volumes:` as a driver takes them, resolved for one start:
/// secrets are read now and handed to the driver only.
enum WorkloadFiles {
    static func containerFiles(_ files: [FileSpec]) throws(SecretReader.Failure) -> [ContainerFile] {
        try files.map { file throws(SecretReader.Failure) in
            switch file.source {
            case .repository(_, let content):
                ContainerFile(path: file.path, content: content, mode: file.mode)
            case .inline(let text):
                ContainerFile(path: file.path, content: Data(text.utf8), mode: file.mode)
            case .secret(let reference):
                ContainerFile(
                    path: file.path, content: try SecretReader.bytes(reference), mode: file.mode, secret: true)
            }
        }
    }

    /// `run` names the DAG run whose run-scoped volumes a task mounts.
    static func mounts(_ volumes: [VolumeMount], run: (dag: String, runID: String)? = nil) -> [ContainerMount] {
        volumes.compactMap { volume in
            switch volume.source {
            case .named(let name):
                ContainerMount(source: .volume(name), target: volume.mount, readOnly: volume.readOnly)
            case .hostPath(let path):
                ContainerMount(source: .hostPath(path), target: volume.mount, readOnly: volume.readOnly)
            case .run(let name):
                run.map {
                    ContainerMount(
                        source: .volume(RunVolumeSpec.nodeName(dag: $0.dag, runID: $0.runID, volume: name)),
                        target: volume.mount, readOnly: volume.readOnly)
                }
            }
        }
    }
}
