import Foundation
import ReconcileGit
import ReconcileModel
import ReconcileStore

/// The repository a controller follows, kept in the store so commands on the same state directory
/// (`dags list`, `dags next`, `logs`, ...) read the same DAGs without repeating `--repo`.
enum SourceSetting {
    static let repo = "source.repo"
    static let ref = "source.ref"
    static let path = "source.path"

    /// A local path made absolute (commands may run elsewhere); a URL without its user-info (no
    /// credential is stored).
    static func location(of repository: String) -> String {
        if repository.contains("://") {
            guard let scheme = repository.range(of: "://") else { return repository }
            let rest = repository[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return repository }
            return String(repository[..<scheme.upperBound]) + rest[rest.index(after: at)...]
        }
        let isSCP = repository.firstIndex(of: ":").map { repository[..<$0].contains("@") } ?? false
        if isSCP || repository.hasPrefix("/") { return repository }
        return URL(fileURLWithPath: repository).standardizedFileURL.path
    }
}

extension GitOptions {
    /// The desired state the controller on this state directory follows (its repository, ref and
    /// path, kept in the store), or the `--repo` given. Throws a CommandError saying what is wrong.
    func followedState(store: Store) async throws -> GitManifestSource.Snapshot {
        var options = self
        var repository = repo
        if repository == nil, let followed = try store.setting(SourceSetting.repo) {
            repository = followed
            options.ref = try store.setting(SourceSetting.ref) ?? ref
            options.subpath = try store.setting(SourceSetting.path) ?? subpath
        }
        let source: GitManifestSource
        do {
            source = try options.manifestSource(repository: repository ?? ".")
        } catch {
            throw CommandError(error.message)
        }
        let result = await source.poll()
        if let snapshot = result.inForce { return snapshot }
        let origin = "\(repository ?? ".") at \(options.ref)"
        switch result {
        case .failed(let error, _):
            throw CommandError(
                "cannot read the manifests of \(origin): \(error)"
                    + (repo == nil
                        ? " (name the repository with --repo, or start the controller on --state \(state))" : ""))
        case .invalid(let commit, let diagnostics, _):
            throw CommandError(
                "commit \(commit.prefix(12)) of \(origin) is invalid:\n"
                    + diagnostics.map(\.description).joined(separator: "\n"))
        default:
            throw CommandError("no manifests at \(origin)")
        }
    }

    /// The named DAG in the followed state, or an error listing the DAGs there are.
    func dag(_ name: String, store: Store) async throws -> (DAGSpec, commit: String) {
        let snapshot = try await followedState(store: store)
        guard let dag = snapshot.state.dags.first(where: { $0.name == name }) else {
            let names = snapshot.state.dags.map(\.name).sorted()
            throw CommandError(
                "no DAG \(name) at commit \(snapshot.commit.prefix(12)); "
                    + (names.isEmpty ? "it declares no DAG" : "DAGs: \(names.joined(separator: ", "))"))
        }
        return (dag, snapshot.commit)
    }
}

/// A DAG definition carried out of an async read.
struct DAGSpecBox {
    let spec: DAGSpec
    init(_ spec: DAGSpec) { self.spec = spec }
}
