import Foundation
import ReconcileModel

/// The files under the manifest root besides the manifests, as far as loading needs them: every
/// path with its size (to check `from:` and suggest a name), the bytes of the files `from:` names,
/// and the `.reconcileignore` rules.
public struct RepositoryFiles: Sendable {
    /// Every regular file under the root (paths relative to it, none with a dot-named part), with
    /// its size in bytes.
    public var sizes: [String: Int]
    /// The bytes of a file, read when a `from:` names it (only for files within the size limit).
    public var read: @Sendable (String) -> Data?
    public var ignore: ReconcileIgnore
    /// The controller's state directory, when known: a `hostPath` in it or holding it is refused
    /// like `/` and the Docker socket.
    public var stateDirectory: String?

    public init(
        sizes: [String: Int] = [:], ignore: ReconcileIgnore = ReconcileIgnore(""),
        read: @escaping @Sendable (String) -> Data? = { _ in nil }
    ) {
        self.sizes = sizes
        self.ignore = ignore
        self.read = read
    }
}

/// Fills in the bytes of every `from:` file and reports the ones that do not exist or are too large.
enum RepositoryFileRules {
    static func resolve(
        _ decoded: inout DecodedDocuments, repository: RepositoryFiles, into diagnostics: inout [Diagnostic]
    ) {
        var contents: [String: Data] = [:]
        var candidates: [String]?
        for reference in decoded.repositoryFiles where contents[reference.path] == nil {
            guard let size = repository.sizes[reference.path] else {
                if candidates == nil { candidates = repository.sizes.keys.sorted() }
                let hint =
                    Suggestion.closest(to: reference.path, among: candidates ?? []).map {
                        " (did you mean \"\($0)\"?)"
                    } ?? ""
                diagnostics.append(
                    Diagnostic(
                        at: reference.location,
                        "\(reference.from) reads \"\(reference.path)\", which is not a file under the manifest root "
                            + "in this commit\(hint); paths are relative to the manifest root"))
                continue
            }
            func tooLarge(_ size: Int) -> Bool {
                guard size > FileSpec.maximumSize else { return false }
                diagnostics.append(
                    Diagnostic(
                        at: reference.location,
                        "\(reference.path) is \(size) bytes; a file from the repository may be at most "
                            + "\(FileSpec.maximumSize) bytes (1 MiB): keep data in a volume"))
                return true
            }
            if tooLarge(size) { continue }
            guard let data = repository.read(reference.path) else {
                diagnostics.append(
                    Diagnostic(at: reference.location, "\(reference.path) could not be read from this commit"))
                continue
            }
            if tooLarge(data.count) { continue }
            contents[reference.path] = data
        }
        func fill(_ files: [FileSpec]) -> [FileSpec] {
            files.map { file in
                guard let path = file.source.repositoryPath, let data = contents[path] else { return file }
                var filled = file
                filled.source = .repository(path: path, content: data)
                return filled
            }
        }
        for index in decoded.apps.indices { decoded.apps[index].spec.files = fill(decoded.apps[index].spec.files) }
        for index in decoded.dags.indices {
            for task in decoded.dags[index].spec.tasks.indices {
                decoded.dags[index].spec.tasks[task].files = fill(decoded.dags[index].spec.tasks[task].files)
            }
        }
    }
}
