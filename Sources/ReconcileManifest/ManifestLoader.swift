import Dispatch
import ReconcileModel

/// Files in, a validated `DesiredState` or every problem out.
public enum ManifestLoader {
    public struct Result: Sendable {
        /// The desired state, or nil when any error was found (a commit applies whole or not at all).
        public var state: DesiredState?
        /// All problems, sorted by file, line and column.
        public var diagnostics: [Diagnostic]

        public init(state: DesiredState?, diagnostics: [Diagnostic]) {
            self.state = state
            self.diagnostics = diagnostics
        }
    }

    /// Loads and validates manifest files (paths relative to the manifest root).
    ///
    /// Files are decoded in parallel; the result depends neither on the order of `files` nor of work.
    /// `repository` lists the other files under the root, for `files: - from:` and `.reconcileignore`.
    public static func load(
        _ files: [ManifestFile], repository: RepositoryFiles = RepositoryFiles(), extraDiagnostics: [Diagnostic] = []
    ) -> Result {
        let manifests = files.filter { ManifestFile.isManifestPath($0.path) && !repository.ignore.ignores($0.path) }
        return assemble(decodeAll(manifests), repository: repository, extraDiagnostics: extraDiagnostics)
    }

    /// The repository paths that `files:` entries read (`from:`): these are configuration, not
    /// manifests, so `assemble` leaves them out even when they end in .yaml.
    public static func referencedPaths(_ files: [DecodedFile]) -> Set<String> {
        Set(files.flatMap { $0.documents.repositoryFiles.map(\.path) })
    }

    /// Decodes one file on its own. The result depends only on the path and the text, so callers
    /// may cache it by (path, content id) and re-decode only the files that changed.
    /// A leading byte order mark (editors on Windows write one) is not part of the YAML: a file read
    /// from a folder lost it when it was read, a blob read from git still has it.
    public static func decode(_ file: ManifestFile) -> DecodedFile {
        let text = file.contents.hasPrefix("\u{FEFF}") ? String(file.contents.dropFirst()) : file.contents
        return DecodedFile(path: file.path, documents: FileDecoder(path: file.path).decode(text))
    }

    /// Decodes files in parallel, keeping their order.
    public static func decodeAll(_ files: [ManifestFile]) -> [DecodedFile] {
        let results = ResultSlots(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            results.store(decode(files[index]), at: index)
        }
        return results.values
    }

    /// Applies the repository-wide rules to decoded files and builds the desired state.
    public static func assemble(
        _ files: [DecodedFile], repository: RepositoryFiles = RepositoryFiles(), extraDiagnostics: [Diagnostic] = []
    ) -> Result {
        // Sorted path order, as the format defines: "first defined at" must not depend on the caller.
        var decoded = DecodedDocuments()
        let referenced = referencedPaths(files)
        // A git tree's files come in this order already: checking costs one pass, sorting more.
        let inOrder = zip(files, files.dropFirst()).allSatisfy { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        for file in inOrder ? files : files.sorted(by: { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) })
        where !referenced.contains(file.path) && !repository.ignore.ignores(file.path) {
            decoded.append(file.documents)
        }
        var diagnostics = decoded.diagnostics + extraDiagnostics
        RepositoryRules.check(decoded, stateDirectory: repository.stateDirectory, into: &diagnostics)
        RepositoryFileRules.resolve(&decoded, repository: repository, into: &diagnostics)
        VolumeRules.resolve(&decoded, into: &diagnostics)
        diagnostics.sort()
        guard !diagnostics.hasErrors else { return Result(state: nil, diagnostics: diagnostics) }
        var state = DesiredState(
            nodes: decoded.nodes.map(\.spec), apps: decoded.apps.map(\.spec), dags: decoded.dags.map(\.spec),
            checks: decoded.checks.map(\.spec), notifiers: decoded.notifiers.map(\.spec),
            registries: decoded.registries.map(\.spec), volumes: decoded.volumes.map(\.spec),
            silences: decoded.silences.map(\.spec), pools: decoded.pools.map(\.spec))
        for item in decoded.nodes { state.locations[ResourceID(.node, item.spec.name)] = item.document }
        for item in decoded.apps { state.locations[ResourceID(.app, item.spec.name)] = item.document }
        for item in decoded.dags { state.locations[ResourceID(.dag, item.spec.name)] = item.document }
        for item in decoded.checks { state.locations[ResourceID(.check, item.spec.name)] = item.document }
        for item in decoded.notifiers { state.locations[ResourceID(.notifier, item.spec.name)] = item.document }
        for item in decoded.registries { state.locations[ResourceID(.registry, item.spec.name)] = item.document }
        for item in decoded.volumes { state.locations[ResourceID(.volume, item.spec.name)] = item.document }
        for item in decoded.silences { state.locations[ResourceID(.silence, item.spec.name)] = item.document }
        for item in decoded.pools { state.locations[ResourceID(.pool, item.spec.name)] = item.document }
        return Result(state: state, diagnostics: diagnostics)
    }
}

/// One manifest file after decoding, before the repository-wide rules.
public struct DecodedFile: Sendable {
    public let path: String
    /// Shared, not copied: a poll keeps every file's documents in its cache and hands them to each
    /// assembly, and copying the value (a score of arrays) per file, then releasing the copies, was
    /// about a fifth of a one-file poll.
    private let box: Box
    var documents: DecodedDocuments { box.documents }

    private final class Box: Sendable {
        let documents: DecodedDocuments
        init(_ documents: DecodedDocuments) { self.documents = documents }
    }

    init(path: String, documents: DecodedDocuments) {
        self.path = path
        self.box = Box(documents)
    }

    /// The repository paths this file's `files:` entries read.
    public var referencedPaths: [String] { documents.repositoryFiles.map(\.path) }

    /// Problems found in this file alone.
    public var diagnostics: [Diagnostic] { documents.diagnostics }
}

/// One slot per file, written once from `concurrentPerform` and read after it returns.
private final class ResultSlots: @unchecked Sendable {
    private var slots: [DecodedFile?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// Each index is written by exactly one iteration; the array is never resized while shared.
    func store(_ value: DecodedFile, at index: Int) {
        slots.withUnsafeMutableBufferPointer { $0[index] = value }
    }

    var values: [DecodedFile] { slots.compactMap { $0 } }
}
