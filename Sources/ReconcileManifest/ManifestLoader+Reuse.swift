import ReconcileModel

extension ManifestLoader {
    /// An assembly that produced a state with nothing said by the repository-wide rules: the base a
    /// later commit that changes a few files can be assembled from (`reassemble`).
    public struct Assembly: Sendable {
        var state: DesiredState
        /// Every diagnostic, sorted: the extra ones and the files' own (the rules said nothing).
        var diagnostics: [Diagnostic]
        var extraDiagnostics: [Diagnostic]
        /// Each file's own diagnostics (warnings: a file with an error gives no state), by path.
        var fileDiagnostics: [String: [Diagnostic]]
        /// The paths `files:` entries read (not manifests).
        public var referencedPaths: Set<String>

        public var result: Result { Result(state: state, diagnostics: diagnostics) }
    }

    /// `assemble`, also handing back the assembly as a base for `reassemble` when it produced a
    /// state and the repository-wide rules found nothing to say (a warning of theirs names places in
    /// other files, which a reused assembly could not keep true).
    public static func assembleKeepingBase(
        _ files: [DecodedFile], repository: RepositoryFiles = RepositoryFiles(), extraDiagnostics: [Diagnostic] = []
    ) -> (result: Result, base: Assembly?) {
        let result = assemble(files, repository: repository, extraDiagnostics: extraDiagnostics)
        guard let state = result.state else { return (result, nil) }
        let referenced = referencedPaths(files)
        var fileDiagnostics: [String: [Diagnostic]] = [:]
        var own = extraDiagnostics.count
        for file in files where !file.diagnostics.isEmpty {
            guard !referenced.contains(file.path), !repository.ignore.ignores(file.path) else { continue }
            fileDiagnostics[file.path] = file.diagnostics
            own += file.diagnostics.count
        }
        guard own == result.diagnostics.count else { return (result, nil) }
        return (
            result,
            Assembly(
                state: state, diagnostics: result.diagnostics, extraDiagnostics: extraDiagnostics,
                fileDiagnostics: fileDiagnostics, referencedPaths: referenced)
        )
    }

    /// The assembly of `base`'s files with each change's `old` file replaced by its `new` version,
    /// without checking every document again; nil when that cannot be done, and the caller
    /// assembles in full. It can be done when every new version has no error of its own and reads
    /// the same to the repository-wide rules as the old one (`CrossDocumentView`: same names,
    /// references, ports, workloads, mounts and `from:` files). Those rules then decide as they did
    /// for `base`, and the resolved parts of each spec (`from:` bytes, volume placement) are the
    /// base's. The caller vouches that nothing else changed: the same paths, the same other
    /// manifests, the same bytes behind `referencedPaths`, the same `.reconcileignore`.
    public static func reassemble(
        _ base: Assembly, changing changes: [(old: DecodedFile, new: DecodedFile)], extraDiagnostics: [Diagnostic]
    ) -> Assembly? {
        guard extraDiagnostics == base.extraDiagnostics else { return nil }
        var state = base.state
        // Apart from `state`: `replace` changes one of its arrays in place while writing these.
        var locations = state.locations
        var fileDiagnostics = base.fileDiagnostics
        for (old, new) in changes {
            let documents = new.documents
            guard old.path == new.path, !documents.diagnostics.hasErrors,
                CrossDocumentView(old.documents) == CrossDocumentView(documents)
            else { return nil }
            fileDiagnostics[new.path] = documents.diagnostics.isEmpty ? nil : documents.diagnostics
            func replace<Spec>(
                _ items: [DecodedDocuments.Named<Spec>], in specs: inout [Spec], _ kind: Kind, name: (Spec) -> String,
                keeping resolved: (inout Spec, Spec) -> Void = { _, _ in }
            ) -> Bool {
                for item in items {
                    let itemName = name(item.spec)
                    guard let index = specs.firstIndex(where: { name($0) == itemName }) else { return false }
                    var spec = item.spec
                    resolved(&spec, specs[index])
                    specs[index] = spec
                    locations[ResourceID(kind, itemName)] = item.document
                }
                return true
            }
            let replaced =
                replace(
                    documents.apps, in: &state.apps, .app, name: \.name,
                    keeping: { spec, was in
                        spec.files = was.files
                        spec.volumes = was.volumes
                    })
                && replace(
                    documents.dags, in: &state.dags, .dag, name: \.name,
                    keeping: { spec, was in
                        for index in spec.tasks.indices {
                            spec.tasks[index].files = was.tasks[index].files
                            spec.tasks[index].volumes = was.tasks[index].volumes
                        }
                    })
                && replace(documents.nodes, in: &state.nodes, .node, name: \.name)
                && replace(documents.checks, in: &state.checks, .check, name: \.name)
                && replace(documents.notifiers, in: &state.notifiers, .notifier, name: \.name)
                && replace(documents.registries, in: &state.registries, .registry, name: \.name)
                && replace(documents.volumes, in: &state.volumes, .volume, name: \.name)
                && replace(documents.silences, in: &state.silences, .silence, name: \.name)
                && replace(documents.pools, in: &state.pools, .pool, name: \.name)
            guard replaced else { return nil }
        }
        state.locations = locations
        return Assembly(
            state: state, diagnostics: (extraDiagnostics + fileDiagnostics.values.joined()).sorted(),
            extraDiagnostics: extraDiagnostics, fileDiagnostics: fileDiagnostics, referencedPaths: base.referencedPaths)
    }
}
