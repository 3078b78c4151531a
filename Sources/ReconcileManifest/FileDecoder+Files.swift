import Foundation
import ReconcileModel
import Yams

/// `files:` and `volumes:` of an App, a task or a DAG's task defaults.
extension FileDecoder {
    typealias LocatedFile = (spec: FileSpec, location: SourceLocation)
    typealias LocatedVolume = (spec: VolumeMount, location: SourceLocation)

    /// The `files:` list by container path; nil when the key is absent.
    func decodeFiles(_ reader: MappingReader, owner: String) -> [String: LocatedFile]? {
        guard let items = reader.objectList("files") else { return nil }
        var files: [String: LocatedFile] = [:]
        for item in items {
            guard let path = item.string("path"), let pathNode = item.value("path") else { continue }
            let here = context.location(of: pathNode)
            guard checkContainerPath(path, at: pathNode, what: "file path") else { continue }
            if let first = files[path] {
                context.error("file \(path) is listed twice in \(owner) (first at \(first.location))", at: pathNode)
                continue
            }
            var source: FileSpec.Source?
            if let from = item.string("from"), let node = item.value("from") {
                if let problem = Self.repositoryPathProblem(from) {
                    context.error("from: \"\(from)\" \(problem)", at: node)
                } else {
                    source = .repository(path: from, content: Data())
                    output.repositoryFiles.append(
                        .init(path: from, location: context.location(of: node), from: "file \(path) of \(owner)"))
                }
            } else if let content = item.string("content"), let node = item.value("content") {
                if content.utf8.count > FileSpec.maximumSize {
                    context.error(
                        "content is \(content.utf8.count) bytes; a file may hold at most \(FileSpec.maximumSize) "
                            + "bytes (1 MiB): keep data in a volume", at: node)
                } else {
                    source = .inline(content)
                }
            } else if let reference = item.secret("secret") {
                source = .secret(reference)
            }
            var mode: Int?
            if let node = item.value("mode") {
                mode = Self.fileMode(node.string ?? "")
                if mode == nil {
                    context.error(
                        "mode must be octal permission bits such as 0644 or 0400, found \(node.shapeDescription)",
                        at: node)
                }
            }
            guard let source else { continue }
            files[path] = (FileSpec(path: path, source: source, mode: mode), here)
        }
        return files
    }

    /// The `volumes:` list by mount path; nil when the key is absent.
    /// `runVolumes`: the DAG's run-scoped volumes, which tasks mount by name before any `Volume`.
    func decodeVolumes(
        _ reader: MappingReader, owner: String, runVolumes: Set<String> = []
    ) -> [String: LocatedVolume]? {
        guard let items = reader.objectList("volumes") else { return nil }
        var volumes: [String: LocatedVolume] = [:]
        for item in items {
            guard let mount = item.string("mount"), let mountNode = item.value("mount") else { continue }
            guard checkContainerPath(mount, at: mountNode, what: "mount") else { continue }
            let here = context.location(of: mountNode)
            if let first = volumes[mount] {
                context.error(
                    "two volumes are mounted at \(mount) in \(owner) (first at \(first.location))", at: mountNode)
                continue
            }
            var source: VolumeMount.Source?
            if let name = item.name("name"), let node = item.value("name") {
                if runVolumes.contains(name) {
                    source = .run(name)
                } else {
                    reference(.volume, name, at: node, from: "volumes of \(owner)")
                    source = .named(name)
                }
            } else if let path = item.string("hostPath"), let node = item.value("hostPath") {
                if let problem = Self.absolutePathProblem(path) {
                    context.error("hostPath \"\(path)\" \(problem)", at: node)
                } else {
                    output.hostPaths.append(.init(path: path, location: context.location(of: node), from: owner))
                    source = .hostPath(path)
                }
            }
            guard let source else { continue }
            volumes[mount] = (VolumeMount(source: source, mount: mount, readOnly: item.bool("readOnly") ?? false), here)
        }
        return volumes
    }

    /// A file may not sit at a mount or inside a mounted volume (it would be written into the
    /// volume); reported at the file.
    func checkMountConflicts(files: [String: LocatedFile], volumes: [String: LocatedVolume], owner: String) {
        for (path, file) in files.sorted(by: { $0.key < $1.key }) {
            guard
                let volume = volumes.values.first(where: {
                    path == $0.spec.mount || path.hasPrefix($0.spec.mount + "/")
                })
            else { continue }
            context.error(
                "file \(path) of \(owner) is inside the volume mounted at \(volume.spec.mount) (at \(volume.location)); "
                    + "put the file elsewhere or mount the volume elsewhere", at: file.location)
        }
    }

    /// Sorted by path, so the spec (and its hash) does not depend on the manifest's order.
    static func ordered(_ files: [String: LocatedFile]) -> [FileSpec] {
        files.values.map(\.spec).sorted { $0.path < $1.path }
    }

    static func ordered(_ volumes: [String: LocatedVolume]) -> [VolumeMount] {
        volumes.values.map(\.spec).sorted { $0.mount < $1.mount }
    }

    private func checkContainerPath(_ path: String, at node: Node, what: String) -> Bool {
        if let problem = Self.absolutePathProblem(path) {
            context.error("\(what) \"\(path)\" \(problem)", at: node)
            return false
        }
        if path == "/" {
            context.error("\(what) cannot be /; name a file or folder inside the container", at: node)
            return false
        }
        return true
    }

    /// Why a path is not a clean absolute path, or nil.
    static func absolutePathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must be an absolute path (starting with /)" }
        guard !path.utf8.contains(0) else { return "contains a NUL byte" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if path != "/" && parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "must be written plainly: no empty, . or .. parts and no trailing /"
        }
        return nil
    }

    /// Why a `from:` path cannot name a file of the repository, or nil.
    static func repositoryPathProblem(_ path: String) -> String? {
        if path.hasPrefix("/") { return "must be relative to the manifest root, e.g. config/api.yaml" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "must be written plainly: no empty, . or .. parts, and it cannot leave the manifest root"
        }
        if parts.contains(where: { $0.hasPrefix(".") }) {
            return "has a part starting with \".\"; such files are not read from the repository"
        }
        return nil
    }

    /// Octal permission bits (`0644`, `644`, `0o644`), at most 0777.
    static func fileMode(_ text: String) -> Int? {
        var digits = Substring(text)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 4, let value = Int(digits, radix: 8), value <= 0o777 else {
            return nil
        }
        return value
    }
}
