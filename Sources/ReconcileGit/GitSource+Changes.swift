import CLibGit2
import ReconcileManifest

extension GitSource {
    /// The files a commit changed in place against an earlier one, when that is all it did to what
    /// `repositoryEntries` lists: files under `path` whose bytes changed, none added, removed,
    /// renamed, or turned into a link, folder or submodule (what is under a dot-named part, which
    /// is never listed, may change freely). Nil when anything else differs, when more than `limit`
    /// files changed, or when either commit has no folder at `path`: the caller lists the tree.
    ///
    /// The two trees are walked side by side, and a subtree whose id is the same in both is not
    /// entered: a commit that changes one file in a tree of folders reads only the trees on its
    /// path. (libgit2's tree-to-tree diff enters every subtree: 10 ms for 20,000 files in folders.)
    public func modifiedEntries(
        from old: String, to new: String, path: String, limit: Int
    ) throws(GitError) -> [Entry]? {
        let repository = try openRepository()
        let operation = "compare \(old.prefix(12)) with \(new.prefix(12))"
        guard let oldTree = try folder(repository, commit: old, path: path, operation: operation) else { return nil }
        defer { git_tree_free(oldTree) }
        guard let newTree = try folder(repository, commit: new, path: path, operation: operation) else { return nil }
        defer { git_tree_free(newTree) }
        var entries: [Entry] = []
        let inPlace = try compare(
            oldTree, newTree, prefix: "", repository: repository, operation: operation, limit: limit,
            into: &entries)
        return inPlace ? entries : nil
    }

    /// Adds the files changed in place between two trees (at `prefix`) to `entries`; false when
    /// anything else changed there, or more than `limit` files did.
    private func compare(
        _ old: OpaquePointer, _ new: OpaquePointer, prefix: String, repository: OpaquePointer, operation: String,
        limit: Int, into entries: inout [Entry]
    ) throws(GitError) -> Bool {
        let (oldCount, newCount) = (git_tree_entrycount(old), git_tree_entrycount(new))
        var (i, j) = (0, 0)
        while i < oldCount || j < newCount {
            let before = i < oldCount ? git_tree_entry_byindex(old, i) : nil
            let after = j < newCount ? git_tree_entry_byindex(new, j) : nil
            // Both trees are in git's order, so one pass pairs entries of the same name and kind.
            let order: Int32 =
                if let before, let after { git_tree_entry_cmp(before, after) } else { before == nil ? 1 : -1 }
            if order != 0 {
                // Only in one of them: added or removed (a file turned folder is both).
                let lone = order < 0 ? before : after
                if order < 0 { i += 1 } else { j += 1 }
                guard Self.isUnlisted(name: lone, prefix: prefix) else { return false }
                continue
            }
            i += 1
            j += 1
            guard let before, let after else { return false }
            let (oldMode, newMode) = (git_tree_entry_filemode(before), git_tree_entry_filemode(after))
            let sameBytes = git_oid_equal(git_tree_entry_id(before), git_tree_entry_id(after)) != 0
            if sameBytes, oldMode == newMode { continue }
            if Self.isUnlisted(name: after, prefix: prefix) { continue }
            let name = String(cString: git_tree_entry_name(after))
            if oldMode == GIT_FILEMODE_TREE, newMode == GIT_FILEMODE_TREE {
                var oldSubtree: OpaquePointer?
                var newSubtree: OpaquePointer?
                defer {
                    git_tree_free(oldSubtree)
                    git_tree_free(newSubtree)
                }
                var rc = git_tree_lookup(&oldSubtree, repository, git_tree_entry_id(before))
                guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
                rc = git_tree_lookup(&newSubtree, repository, git_tree_entry_id(after))
                guard rc == 0, let oldSubtree, let newSubtree else {
                    throw GitError.last(code: rc, operation: operation)
                }
                guard
                    try compare(
                        oldSubtree, newSubtree, prefix: prefix + name + "/", repository: repository,
                        operation: operation, limit: limit, into: &entries)
                else { return false }
            } else if Self.isFile(oldMode.rawValue), Self.isFile(newMode.rawValue) {
                // A mode change alone (made executable) is no change to what is listed.
                guard !sameBytes else { continue }
                entries.append(Entry(path: prefix + name, blob: LibGit2.hex(git_tree_entry_id(after))))
                if entries.count > limit { return false }
            } else {
                return false  // a link, a submodule, or a file and a link swapped
            }
        }
        return true
    }

    /// An entry `repositoryEntries` never lists: a dot-named one, except the root's `.reconcileignore`.
    static func isUnlisted(name entry: OpaquePointer?, prefix: String) -> Bool {
        guard let entry, let name = git_tree_entry_name(entry), name.pointee == UInt8(ascii: ".") else {
            return false
        }
        return !(prefix.isEmpty && String(cString: name) == ReconcileIgnore.fileName)
    }

    /// A regular file's mode (executable or not), as `repositoryEntries` lists it.
    static func isFile(_ mode: UInt32) -> Bool {
        mode == GIT_FILEMODE_BLOB.rawValue || mode == GIT_FILEMODE_BLOB_EXECUTABLE.rawValue
    }

    /// `manifestTree`, or nil when the commit has no folder at `path`.
    private func folder(
        _ repository: OpaquePointer, commit: String, path: String, operation: String
    ) throws(GitError) -> OpaquePointer? {
        do {
            return try manifestTree(repository, commit: commit, path: path, operation: operation)
        } catch  where error.kind == .pathNotFound {
            return nil
        }
    }

    /// The tree at `path` in `commit`, to be freed by the caller; a commit without a folder there
    /// throws `.pathNotFound`, saying what to check.
    func manifestTree(
        _ repository: OpaquePointer, commit: String, path: String, operation: String
    ) throws(GitError) -> OpaquePointer {
        var oid = git_oid()
        var rc = git_oid_fromstr(&oid, commit)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        var commitHandle: OpaquePointer?
        rc = git_commit_lookup(&commitHandle, repository, &oid)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        defer { git_commit_free(commitHandle) }
        var root: OpaquePointer?
        rc = git_commit_tree(&root, commitHandle)
        guard rc == 0, let root else { throw GitError.last(code: rc, operation: operation) }
        let subpath = path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        if subpath.isEmpty { return root }
        defer { git_tree_free(root) }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, root, subpath) == 0 else {
            throw GitError(
                .pathNotFound, operation: operation, message: "no folder \"\(subpath)\" in this commit; check --path")
        }
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_filemode(entry) == GIT_FILEMODE_TREE else {
            throw GitError(
                .pathNotFound, operation: operation,
                message: "\"\(subpath)\" is not a folder in this commit (symbolic links are not followed)")
        }
        var subtree: OpaquePointer?
        rc = git_tree_lookup(&subtree, repository, git_tree_entry_id(entry))
        guard rc == 0, let subtree else { throw GitError.last(code: rc, operation: operation) }
        return subtree
    }
}
