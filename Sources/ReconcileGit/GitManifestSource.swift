import Foundation
import ReconcileManifest
import ReconcileModel

/// The desired state as a git ref says it: fetch, resolve, read the manifest tree at the commit,
/// validate, and keep the last valid commit in force when a newer one is invalid or the remote is down.
///
/// Parsed files are cached by (path, blob id): a commit that changes one file decodes one file.
public actor GitManifestSource {
    public struct Snapshot: Sendable {
        /// The full commit id.
        public var commit: String
        public var state: DesiredState
        /// Warnings of that commit (errors keep a commit out).
        public var diagnostics: [Diagnostic]
    }

    public enum Outcome: Sendable {
        /// A new valid commit is now in force.
        case applied(Snapshot)
        /// The ref still names the commit already evaluated; nothing was read.
        case unchanged(commit: String, inForce: Snapshot?)
        /// The ref names an invalid commit; `inForce` (the last valid one) stays.
        case invalid(commit: String, diagnostics: [Diagnostic], inForce: Snapshot?)
        /// Fetching, resolving, reading or verifying failed; `inForce` stays.
        case failed(GitError, inForce: Snapshot?)

        public var inForce: Snapshot? {
            switch self {
            case .applied(let snapshot): snapshot
            case .unchanged(_, let snapshot), .invalid(_, _, let snapshot), .failed(_, let snapshot): snapshot
            }
        }
    }

    public let source: GitSource
    public let ref: String
    public let path: String
    let verifier: SignatureVerifier?
    private var cache: [String: DecodedFile] = [:]
    private var evaluated: String?
    private var lastOutcome: Outcome?
    public private(set) var inForce: Snapshot?
    /// Files decoded so far (cache misses), for tests and metrics.
    public private(set) var decodedFiles = 0
    /// Commits assembled from the last assembly (`ManifestLoader.reassemble`), for tests and metrics.
    public private(set) var reusedAssemblies = 0
    /// Commits whose files were found by comparing trees with the last assembly's commit instead of
    /// listing the whole tree, for tests and metrics.
    public private(set) var comparedTrees = 0
    /// The last assembly that can be reused, with the tree it was made of.
    private var base: Base?

    private struct Base {
        /// The commit the files are from.
        var commit: String
        var files: [GitSource.Entry]
        /// Each file's place in `files`, by path.
        var positions: [String: Int]
        var treeDiagnostics: [Diagnostic]
        var ignore: ReconcileIgnore
        var assembly: ManifestLoader.Assembly
    }

    public init(source: GitSource, ref: String = "HEAD", path: String = "", verifier: SignatureVerifier? = nil) {
        self.source = source
        self.ref = ref
        self.path = path
        self.verifier = verifier
    }

    /// One poll: fetch, and evaluate the commit `ref` names if it is new.
    public func poll() async -> Outcome {
        do {
            try await source.fetch()
        } catch {
            // Unreachable: keep what is in force. After a restart nothing is yet, so fall back to the
            // commit the mirror on disk already has for the ref (the last one fetched).
            if inForce == nil, let commit = try? await source.resolve(ref), case .applied = try? await evaluate(commit)
            {
                evaluated = commit
            }
            let outcome = Outcome.failed(error, inForce: inForce)
            lastOutcome = outcome
            return outcome
        }
        do {
            let commit = try await source.resolve(ref)
            if commit == evaluated, let lastOutcome {
                if case .failed = lastOutcome {} else { return .unchanged(commit: commit, inForce: inForce) }
            }
            evaluated = commit
            let outcome = try await evaluate(commit)
            lastOutcome = outcome
            return outcome
        } catch {
            let outcome = Outcome.failed(error, inForce: inForce)
            lastOutcome = outcome
            return outcome
        }
    }

    private func evaluate(_ commit: String) async throws(GitError) -> Outcome {
        if let verifier {
            let signature = try await source.signature(ofCommit: commit)
            try verifier.verify(signature, commit: commit)
        }
        // The files changed in place since the base's commit, found without listing the whole tree
        // (when the trees cannot be compared, the listing below decides).
        var modified: [GitSource.Entry]?
        if let base {
            modified =
                (try? await source.modifiedEntries(
                    from: base.commit, to: commit, path: path, limit: Self.maximumReassembled)) ?? nil
        }
        if let base, let modified, let state = try await reassemble(commit, changing: modified, base: base) {
            comparedTrees += 1
            let snapshot = Snapshot(commit: commit, state: state.state, diagnostics: state.diagnostics)
            inForce = snapshot
            return .applied(snapshot)
        }
        let (files, treeDiagnostics) = try await source.repositoryEntries(commit: commit, path: path)
        // When the trees were compared and the changes cannot be reassembled, listing says no more.
        if modified == nil, let state = try await reassemble(commit, files, treeDiagnostics: treeDiagnostics) {
            let snapshot = Snapshot(commit: commit, state: state.state, diagnostics: state.diagnostics)
            inForce = snapshot
            return .applied(snapshot)
        }
        var ignore = ReconcileIgnore("")
        if let entry = files.first(where: { $0.path == ReconcileIgnore.fileName }),
            let text = try await source.text(ofBlob: entry.blob)
        {
            ignore = ReconcileIgnore(text)
        }
        let entries = files.filter { ManifestFile.isManifestPath($0.path) && !ignore.ignores($0.path) }
        // In the tree's order (the order assembling wants), each file from the cache or decoded now.
        var slots: [DecodedFile?] = []
        slots.reserveCapacity(entries.count)
        var missing: [(key: String, slot: Int, file: ManifestFile)] = []
        var diagnostics = treeDiagnostics
        var keys: [String: DecodedFile] = [:]
        keys.reserveCapacity(entries.count)
        for entry in entries {
            let key = entry.path + "\u{0}" + entry.blob
            if let hit = cache[key] {
                slots.append(hit)
                keys[key] = hit
            } else if let text = try await source.text(ofBlob: entry.blob) {
                missing.append((key, slots.count, ManifestFile(path: entry.path, contents: text)))
                slots.append(nil)
            } else {
                diagnostics.append(ManifestFile.notUTF8(entry.path))
            }
        }
        // decodeAll keeps the order of its input, so results pair with their keys.
        let fresh = ManifestLoader.decodeAll(missing.map(\.file))
        decodedFiles += fresh.count
        for (item, file) in zip(missing, fresh) {
            keys[item.key] = file
            slots[item.slot] = file
        }
        cache = keys  // only what this commit uses, so the cache never outgrows the repository
        let decoded = slots.compactMap { $0 }
        // The files `from:` entries read: their sizes, and their bytes when within the limit.
        let blobs = Dictionary(files.map { ($0.path, $0.blob) }, uniquingKeysWith: { a, _ in a })
        var sizes = Dictionary(
            files.filter { $0.path != ReconcileIgnore.fileName }.map { ($0.path, 0) }, uniquingKeysWith: { a, _ in a })
        var contents: [String: Data] = [:]
        for path in ManifestLoader.referencedPaths(decoded) {
            guard let blob = blobs[path] else { continue }
            let (size, data) = try await source.bytes(ofBlob: blob, limit: FileSpec.maximumSize)
            sizes[path] = size
            contents[path] = data
        }
        var repository = RepositoryFiles(sizes: sizes, ignore: ignore) { [contents] in contents[$0] }
        repository.stateDirectory = source.stateDirectory
        let (result, reusable) = ManifestLoader.assembleKeepingBase(
            decoded, repository: repository, extraDiagnostics: diagnostics)
        if let reusable {
            base = Base(
                commit: commit, files: files,
                positions: Dictionary(files.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a }),
                treeDiagnostics: treeDiagnostics, ignore: ignore, assembly: reusable)
        }
        guard let state = result.state else {
            return .invalid(commit: commit, diagnostics: result.diagnostics, inForce: inForce)
        }
        let snapshot = Snapshot(commit: commit, state: state, diagnostics: result.diagnostics)
        inForce = snapshot
        return .applied(snapshot)
    }

    /// `reassemble` of the base's files with `modified` (files changed in place, found by comparing
    /// trees) put in.
    private func reassemble(
        _ commit: String, changing modified: [GitSource.Entry], base: Base
    ) async throws(GitError) -> (state: DesiredState, diagnostics: [Diagnostic])? {
        var files = base.files
        var changed: [Int] = []
        for entry in modified {
            guard let position = base.positions[entry.path] else { return nil }
            files[position] = entry
            changed.append(position)
        }
        return try await reassemble(commit, files, treeDiagnostics: base.treeDiagnostics, only: changed)
    }

    /// Manifests a commit may change and still be assembled from the last assembly.
    static let maximumReassembled = 16

    /// A commit that changes a few manifests of the last reusable assembly, and nothing a rule
    /// across documents reads, is assembled from it (one-file commits stay flat as the repository
    /// grows); nil: assemble in full. Any other difference (a path added, removed or renamed, a
    /// `from:` file or `.reconcileignore` changed, more than 16 manifests changed) goes the full way.
    ///
    /// - Parameter only: the positions of the files that may differ from the base's (nil: any).
    private func reassemble(
        _ commit: String, _ files: [GitSource.Entry], treeDiagnostics: [Diagnostic], only: [Int]? = nil
    ) async throws(GitError) -> (state: DesiredState, diagnostics: [Diagnostic])? {
        guard let base, base.files.count == files.count, treeDiagnostics == base.treeDiagnostics else { return nil }
        var changed: [(old: DecodedFile, oldKey: String, entry: GitSource.Entry)] = []
        for position in only ?? Array(files.indices) where base.files[position] != files[position] {
            let (old, new) = (base.files[position], files[position])
            guard old.path == new.path, new.path != ReconcileIgnore.fileName,
                !base.assembly.referencedPaths.contains(new.path)
            else { return nil }
            // Files reconcile does not read (a README, an ignored file) may change freely.
            guard ManifestFile.isManifestPath(new.path), !base.ignore.ignores(new.path) else { continue }
            let oldKey = old.path + "\u{0}" + old.blob
            guard changed.count < Self.maximumReassembled, let cached = cache[oldKey] else { return nil }
            changed.append((cached, oldKey, new))
        }
        var texts: [ManifestFile] = []
        for (_, _, entry) in changed {
            guard let text = try await source.text(ofBlob: entry.blob) else { return nil }
            texts.append(ManifestFile(path: entry.path, contents: text))
        }
        let fresh = ManifestLoader.decodeAll(texts)
        decodedFiles += fresh.count
        // Kept for the full assembly too, when this one cannot be reused.
        for (item, file) in zip(changed, fresh) { cache[item.entry.path + "\u{0}" + item.entry.blob] = file }
        guard
            let assembly = ManifestLoader.reassemble(
                base.assembly, changing: zip(changed, fresh).map { ($0.old, $1) }, extraDiagnostics: treeDiagnostics)
        else { return nil }
        for item in changed { cache[item.oldKey] = nil }
        // The same paths in the same places: the positions stay.
        self.base = Base(
            commit: commit, files: files, positions: base.positions, treeDiagnostics: treeDiagnostics,
            ignore: base.ignore, assembly: assembly)
        reusedAssemblies += 1
        return assembly.result.state.map { ($0, assembly.result.diagnostics) }
    }
}
