/// Credentials for a private container registry (`kind: Registry`), matched to images by registry
/// host. The password is a secret reference, read when pulling and never stored or printed.
public struct RegistrySpec: Sendable, Hashable, Codable {
    public var name: String
    /// The registry host (and port), as it appears in image names: `registry.local:5000`.
    public var server: String
    public var username: String
    public var password: SecretReference
    /// A PEM file on the controller host with the CA the registry's certificate chains to: the
    /// controller checks the credentials against the registry with it when a commit changes the
    /// Registries (`RegistryLogin`); nodes trust the CA themselves (/etc/docker/certs.d/HOST/ca.crt).
    public var ca: String?

    public init(name: String, server: String, username: String, password: SecretReference, ca: String? = nil) {
        self.name = name
        self.server = server
        self.username = username
        self.password = password
        self.ca = ca
    }

    /// The registry host an image is pulled from: the first path part when it looks like a host
    /// (has a dot or a port, or is `localhost`), else Docker Hub.
    public static func host(of image: String) -> String {
        guard let slash = image.firstIndex(of: "/") else { return "docker.io" }
        let first = image[..<slash]
        if first.contains(".") || first.contains(":") || first == "localhost" { return String(first) }
        return "docker.io"
    }

    /// The registry whose server is the image's registry host, if one is declared.
    public static func matching(_ image: String, in registries: [RegistrySpec]) -> RegistrySpec? {
        let host = host(of: image)
        return registries.first { $0.server == host || ($0.server == "index.docker.io" && host == "docker.io") }
    }
}
