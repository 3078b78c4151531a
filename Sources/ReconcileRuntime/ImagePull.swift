import ReconcileDrivers
import ReconcileModel

/// Makes a workload's image present on its node before the container is created, by its pull
/// policy and with the credentials of the `Registry` that serves it. The pull happens before the
/// container exists, so it counts against neither a task's timeout nor an App's progress deadline
/// (both count from the container's start).
enum ImagePull {
    /// Pulls when the policy asks for it. Throws the node's error (`operation` "pull image …"),
    /// with the registry named when credentials were used.
    static func prepare(
        _ image: String, policy: PullPolicy, driver: any ContainerDriver, registries: [RegistrySpec]
    ) async throws {
        switch policy {
        case .never:
            if try await !driver.hasImage(image) {
                throw DriverError(
                    .notFound, node: driver.node, operation: "pull image \(image)",
                    message: "the image is not on the node and pull is never; load it there or allow pulls")
            }
            return
        case .ifNotPresent:
            if try await driver.hasImage(image) { return }
        case .always:
            break
        }
        let registry = RegistrySpec.matching(image, in: registries)
        let auth = registry.map { RegistryAuth(username: $0.username, password: $0.password, server: $0.server) }
        do {
            try await driver.pull(image, auth: auth)
        } catch var error as DriverError {
            if let registry { error.message += " (registry \(registry.name), user \(registry.username))" }
            throw error
        }
    }
}
