import CLibGit2
import Foundation
import ReconcileManifest
import ReconcileModel

/// A git remote mirrored into the state directory, read straight from its object database.
///
/// All libgit2 handles live inside this actor, so they are only ever used from one thread at a time.
/// Clones on first use and fetches after (`+refs/heads/*` and `+refs/tags/*`, pruned, so force
/// pushes and deleted branches are followed); resolves branches, tags and full or short commit ids;
/// lists the manifest files of a commit without a work tree.
public actor GitSource {
    /// The remote as given: a local path, `file://`, `git://`, `http(s)://`, `ssh://` or scp-style URL.
    public let remote: String
    /// The bare mirror's folder.
    public let mirrorPath: String
    let credentials: GitCredentials
    /// The password of a URL given with user-info (`https://user:password@host/...`).
    let inlinePassword: String?
    let environment: [String: String]
    /// The controller's state directory (absolute): no workload may mount it.
    public let stateDirectory: String
    private var handle: RepositoryHandle?
    private var cachedRemote: RemoteHandle?

    /// - Parameters:
    ///   - remote: the repository to mirror; relative local paths are made absolute.
    ///   - stateDirectory: the mirror is kept under `stateDirectory/git/`.
    public init(
        remote: String, stateDirectory: String, credentials: GitCredentials = .none,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        let isURL = remote.contains("://") || (remote.contains(":") && !remote.hasPrefix("/") && !remote.hasPrefix("."))
        let resolved =
            isURL || remote.hasPrefix("/")
            ? remote : URL(fileURLWithPath: remote).standardizedFileURL.path
        // User-info in the URL is kept in memory for the credential callback, never handed to
        // libgit2, so it is not written into the mirror's config.
        let (bare, user, password) = Self.splitUserInfo(resolved)
        self.remote = bare
        var credentials = credentials
        if credentials.username == nil { credentials.username = user }
        self.credentials = credentials
        self.inlinePassword = password
        self.environment = environment
        self.stateDirectory = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        let folder = URL(fileURLWithPath: stateDirectory).appendingPathComponent("git").path
        mirrorPath = folder + "/" + Self.mirrorName(for: bare) + ".git"
        // An older version named the mirror after the URL with its user-info: move it to the new
        // name (its config's URL is rewritten without the user-info when it is opened).
        let older = folder + "/" + Self.mirrorName(for: resolved) + ".git"
        if older != mirrorPath, FileManager.default.fileExists(atPath: older),
            !FileManager.default.fileExists(atPath: mirrorPath)
        {
            rename(older, mirrorPath)
            rename(older + ".lock", mirrorPath + ".lock")
        }
        LibGit2.initialize()
    }

    /// An `http(s)://user:password@host/...` URL without its user-info, and the user and password.
    /// Other schemes keep a bare user (`ssh://git@host/...`, which libgit2 needs in the URL) and lose
    /// only a password.
    static func splitUserInfo(_ url: String) -> (url: String, user: String?, password: String?) {
        guard let scheme = url.range(of: "://") else { return (url, nil, nil) }
        let isHTTP = url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://")
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return (url, nil, nil) }
        let info = authority[..<at]
        let bare = String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
        let parts = info.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        func decoded(_ text: Substring) -> String? {
            text.isEmpty ? nil : (String(text).removingPercentEncoding ?? String(text))
        }
        guard isHTTP || parts.count > 1 else { return (url, nil, nil) }
        let kept =
            isHTTP ? bare : String(url[..<scheme.upperBound]) + parts[0] + "@" + String(rest[rest.index(after: at)...])
        return (kept, parts.first.flatMap(decoded), parts.count > 1 ? decoded(parts[1]) : nil)
    }

    /// The remote without user-info, for messages.
    public nonisolated var displayRemote: String { Redaction.removeUserInfo(remote) }

    /// A stable folder name for a remote (FNV-1a of the URL, so no credential lands in a path).
    static func mirrorName(for remote: String) -> String {
        let hash = StableHash.fnv1a(remote)
        let base =
            Redaction.removeUserInfo(remote).split(whereSeparator: { "/:@".contains($0) }).last.map(String.init)
            ?? "repo"
        let safe = base.replacingOccurrences(of: ".git", with: "").filter { $0.isLetter || $0.isNumber || $0 == "-" }
        return "\(safe.prefix(40))-\(String(hash, radix: 16))"
    }

    // MARK: Fetch

    /// Brings the mirror up to date. Returns whether any branch or tag changed.
    ///
    /// Lists the remote's refs first and downloads only when they differ from the mirror's, so a
    /// poll with no new commit costs one round trip.
    /// Processes sharing the state directory (the controller, a `dags trigger`) take turns: an
    /// exclusive lock on `<mirror>.lock` is held while the mirror is created or updated.
    @discardableResult
    public func fetch() throws(GitError) -> Bool {
        try? FileManager.default.createDirectory(
            atPath: (mirrorPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let lock = open(mirrorPath + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        if lock >= 0 { flock(lock, LOCK_EX) }
        defer { if lock >= 0 { close(lock) } }
        return try fetchLocked()
    }

    private func fetchLocked() throws(GitError) -> Bool {
        let repository = try openRepository()
        let operation = "fetch from \(displayRemote)"
        // The remote is looked up once and kept with the repository: each lookup reads the
        // repository's config anew, and libgit2 1.5 keeps what it read (about 0.5 MB a poll).
        if cachedRemote == nil {
            var lookedUp: OpaquePointer?
            let found = git_remote_lookup(&lookedUp, repository, "origin")
            guard found == 0, let lookedUp else { throw GitError.last(code: found, operation: operation) }
            cachedRemote = RemoteHandle(lookedUp, repository: handle)
        }
        let remoteHandle = cachedRemote!.pointer
        var rc: Int32 = 0

        let context = CredentialContext(
            credentials: credentials, environment: environment, remote: displayRemote, inlinePassword: inlinePassword)
        let secrets = credentials.secretValues(environment: environment) + (inlinePassword.map { [$0] } ?? [])
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.credentials = credentialCallback
        callbacks.certificate_check = certificateCallback
        let payload = Unmanaged.passRetained(context)
        defer { payload.release() }
        callbacks.payload = payload.toOpaque()

        rc = git_remote_connect(remoteHandle, GIT_DIRECTION_FETCH, &callbacks, nil, nil)
        if rc != 0 { throw context.error(GitError.last(code: rc, operation: operation, redacting: secrets)) }
        let advertised = try remoteRefs(remoteHandle, operation: operation)
        var defaultBranch: String?
        var buffer = git_buf()
        if git_remote_default_branch(&buffer, remoteHandle) == 0, let pointer = buffer.ptr {
            defaultBranch = String(cString: pointer)
        }
        git_buf_dispose(&buffer)
        git_remote_disconnect(remoteHandle)

        let local = localRefs(repository)
        var changed = false
        if advertised != local {
            var options = git_fetch_options()
            git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
            options.prune = GIT_FETCH_PRUNE
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE  // the tag refspec fetches them
            options.callbacks = callbacks
            context.attempts = 0  // a new connection asks for credentials afresh
            rc = git_remote_fetch(remoteHandle, nil, &options, nil)
            if rc != 0 { throw context.error(GitError.last(code: rc, operation: operation, redacting: secrets)) }
            changed = true
        }
        if let defaultBranch, defaultBranch.hasPrefix("refs/heads/"), advertised[defaultBranch] != nil {
            // HEAD of the mirror follows the remote's default branch, so `--ref HEAD` means what it does there.
            git_repository_set_head(repository, defaultBranch)
        }
        return changed
    }

    /// Branch and tag tips the remote advertises (peeled `^{}` entries left out).
    private func remoteRefs(_ remote: OpaquePointer, operation: String) throws(GitError) -> [String: String] {
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        let rc = git_remote_ls(&heads, &count, remote)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        var result: [String: String] = [:]
        for index in 0..<count {
            guard let head = heads?[index]?.pointee, let namePointer = head.name else { continue }
            let name = String(cString: namePointer)
            guard name.hasPrefix("refs/heads/") || name.hasPrefix("refs/tags/"), !name.hasSuffix("^{}") else {
                continue
            }
            var oid = head.oid
            result[name] = LibGit2.hex(&oid)
        }
        return result
    }

    /// The mirror's branch and tag tips.
    private func localRefs(_ repository: OpaquePointer) -> [String: String] {
        var names = git_strarray()
        guard git_reference_list(&names, repository) == 0 else { return [:] }
        defer { git_strarray_dispose(&names) }
        var result: [String: String] = [:]
        for index in 0..<names.count {
            guard let pointer = names.strings[index] else { continue }
            let name = String(cString: pointer)
            guard name.hasPrefix("refs/heads/") || name.hasPrefix("refs/tags/") else { continue }
            var oid = git_oid()
            if git_reference_name_to_id(&oid, repository, name) == 0 { result[name] = LibGit2.hex(&oid) }
        }
        return result
    }

    /// The mirror's branches, for "ref not found" messages.
    public func branches() -> [String] {
        guard let repository = try? openRepository() else { return [] }
        return localRefs(repository).keys.filter { $0.hasPrefix("refs/heads/") }
            .map { String($0.dropFirst("refs/heads/".count)) }.sorted()
    }

    // MARK: Resolve

    /// The full commit id that `ref` (branch, tag, full or short commit id, `HEAD`) names in the mirror.
    public func resolve(_ ref: String) throws(GitError) -> String {
        let repository = try openRepository()
        let operation = "resolve \(ref) in \(displayRemote)"
        guard !ref.isEmpty, !ref.hasPrefix("-") else {
            throw GitError(.refNotFound(ref: ref, branches: branches()), operation: operation, message: "empty ref")
        }
        var object: OpaquePointer?
        var rc = git_revparse_single(&object, repository, ref)
        if rc != 0 {
            let error = GitError.last(code: rc, operation: operation)
            if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EAMBIGUOUS.rawValue || rc == GIT_EINVALIDSPEC.rawValue
                || error.errorClass == Int32(GIT_ERROR_REFERENCE.rawValue)
            {
                throw GitError(
                    .refNotFound(ref: ref, branches: branches()), operation: operation, message: error.message)
            }
            throw error
        }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        rc = git_object_peel(&commit, object, GIT_OBJECT_COMMIT)
        guard rc == 0 else { throw GitError.last(code: rc, operation: "\(operation): not a commit") }
        defer { git_object_free(commit) }
        return LibGit2.hex(git_object_id(commit))
    }

    // MARK: Read

    /// One manifest file in a commit: its path below the manifest root and its blob id.
    public struct Entry: Sendable, Hashable {
        public var path: String
        public var blob: String
    }

    /// The files under `path` at `commit` (manifests, files `from:` may read, and the root's
    /// `.reconcileignore`; no other dot-named part), and diagnostics for what is refused (symbolic
    /// links are never followed; submodules cannot hold manifests).
    public func repositoryEntries(
        commit: String, path: String
    ) throws(GitError) -> (
        entries: [Entry], diagnostics: [Diagnostic]
    ) {
        let repository = try openRepository()
        let operation = "read \(path.isEmpty ? "/" : path) at \(commit.prefix(12))"
        let tree = try manifestTree(repository, commit: commit, path: path, operation: operation)
        defer { git_tree_free(tree) }
        var entries: [Entry] = []
        var diagnostics: [Diagnostic] = []
        try walk(
            tree, prefix: "", repository: repository, operation: operation, entries: &entries, diagnostics: &diagnostics
        )
        return (entries, diagnostics)
    }

    private func walk(
        _ tree: OpaquePointer?, prefix: String, repository: OpaquePointer, operation: String, entries: inout [Entry],
        diagnostics: inout [Diagnostic]
    ) throws(GitError) {
        let count = git_tree_entrycount(tree)
        for index in 0..<count {
            guard let entry = git_tree_entry_byindex(tree, index), let namePointer = git_tree_entry_name(entry) else {
                continue
            }
            let name = String(cString: namePointer)
            if name.hasPrefix(".") && !(prefix.isEmpty && name == ReconcileIgnore.fileName) { continue }
            let path = prefix + name
            let mode = git_tree_entry_filemode(entry)
            let here = SourceLocation(file: path, line: 1, column: 1)
            if mode == GIT_FILEMODE_TREE {
                var subtree: OpaquePointer?
                let rc = git_tree_lookup(&subtree, repository, git_tree_entry_id(entry))
                guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
                defer { git_tree_free(subtree) }
                try walk(
                    subtree, prefix: path + "/", repository: repository, operation: operation, entries: &entries,
                    diagnostics: &diagnostics)
            } else if mode == GIT_FILEMODE_LINK {
                diagnostics.append(
                    Diagnostic(
                        at: here, "symbolic link in the manifest tree; links are never followed, commit the file itself"
                    ))
            } else if mode == GIT_FILEMODE_COMMIT {
                diagnostics.append(
                    Diagnostic(at: here, "submodule under the manifest path; manifests must live in this repository"))
            } else if mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE {
                entries.append(Entry(path: path, blob: LibGit2.hex(git_tree_entry_id(entry))))
            }
        }
    }

    /// A blob's text, or nil when it is not UTF-8.
    public func text(ofBlob id: String) throws(GitError) -> String? {
        try withBlob(id) { blob in
            let size = Int(git_blob_rawsize(blob))
            guard size > 0, let raw = git_blob_rawcontent(blob) else { return "" }
            return String(validating: UnsafeRawBufferPointer(start: raw, count: size), as: UTF8.self)
        }
    }

    /// A blob's size, and its bytes when it is at most `limit` bytes long.
    public func bytes(ofBlob id: String, limit: Int) throws(GitError) -> (size: Int, data: Data?) {
        try withBlob(id) { blob in
            let size = Int(git_blob_rawsize(blob))
            guard size <= limit else { return (size, nil) }
            guard size > 0, let raw = git_blob_rawcontent(blob) else { return (0, Data()) }
            return (size, Data(bytes: raw, count: size))
        }
    }

    /// Looks a blob up by id and hands it to `body` (freed after).
    private func withBlob<T>(_ id: String, _ body: (OpaquePointer?) -> T) throws(GitError) -> T {
        let repository = try openRepository()
        var oid = git_oid()
        var rc = git_oid_fromstr(&oid, id)
        guard rc == 0 else { throw GitError.last(code: rc, operation: "read blob \(id)") }
        var blob: OpaquePointer?
        rc = git_blob_lookup(&blob, repository, &oid)
        guard rc == 0 else { throw GitError.last(code: rc, operation: "read blob \(id)") }
        defer { git_blob_free(blob) }
        return body(blob)
    }

    /// The signature and signed payload of a commit, or nil when it is unsigned.
    public func signature(ofCommit commit: String) throws(GitError) -> (signature: Data, payload: Data)? {
        let repository = try openRepository()
        var oid = git_oid()
        var rc = git_oid_fromstr(&oid, commit)
        guard rc == 0 else { throw GitError.last(code: rc, operation: "read signature of \(commit)") }
        var signature = git_buf()
        var payload = git_buf()
        defer {
            git_buf_dispose(&signature)
            git_buf_dispose(&payload)
        }
        rc = git_commit_extract_signature(&signature, &payload, repository, &oid, nil)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        guard rc == 0 else { throw GitError.last(code: rc, operation: "read signature of \(commit)") }
        return (
            Data(bytes: signature.ptr, count: signature.size), Data(bytes: payload.ptr, count: payload.size)
        )
    }

    // MARK: Repository

    func openRepository() throws(GitError) -> OpaquePointer {
        if let handle { return handle.pointer }
        let operation = "open mirror of \(displayRemote)"
        var handle: OpaquePointer?
        var rc: Int32
        if FileManager.default.fileExists(atPath: mirrorPath) {
            rc = git_repository_open_bare(&handle, mirrorPath)
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: (mirrorPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            } catch {
                throw GitError(.other, operation: operation, message: "cannot create \(mirrorPath): \(error)")
            }
            rc = git_repository_init(&handle, mirrorPath, 1)
        }
        guard rc == 0, let handle else { throw GitError.last(code: rc, operation: operation) }
        var remoteHandle: OpaquePointer?
        if git_remote_lookup(&remoteHandle, handle, "origin") == 0 {
            if let url = git_remote_url(remoteHandle), String(cString: url) != remote {
                git_remote_set_url(handle, "origin", remote)
            }
            git_remote_free(remoteHandle)
        } else {
            rc = git_remote_create_with_fetchspec(&remoteHandle, handle, "origin", remote, "+refs/heads/*:refs/heads/*")
            guard rc == 0 else {
                let error = GitError.last(code: rc, operation: operation)
                git_repository_free(handle)
                throw error
            }
            git_remote_free(remoteHandle)
            git_remote_add_fetch(handle, "origin", "+refs/tags/*:refs/tags/*")
        }
        self.handle = RepositoryHandle(handle)
        return handle
    }
}

/// Owns a `git_repository`; freed when the owning actor goes away. Only that actor touches it.
/// A remote of a repository; keeps the repository alive while it lives.
final class RemoteHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let repository: RepositoryHandle?

    init(_ pointer: OpaquePointer, repository: RepositoryHandle?) {
        self.pointer = pointer
        self.repository = repository
    }

    deinit { git_remote_free(pointer) }
}

final class RepositoryHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { git_repository_free(pointer) }
}

enum LibGit2 {
    private static let once: Void = { git_libgit2_init() }()

    static func initialize() { _ = once }

    static func hex(_ oid: UnsafePointer<git_oid>?) -> String {
        guard let oid, let text = git_oid_tostr_s(oid) else { return "" }
        return String(cString: text)
    }

    static func hex(_ oid: inout git_oid) -> String {
        withUnsafePointer(to: &oid) { hex($0) }
    }
}
