import CLibGit2
import ReconcileManifest

extension GitSource {
    /// The files a commit changed in place against an earlier one, when that is all it did to what
    /// `repositoryEntries` lists: files under `path` whose bytes changed, none added, removed,
    /// renamed, or turned into a link, folder or submodule (what is under a dot-named part, which
    /// is never listed, may change freely). Nil when anything else differs, when more than `limit`
    /// files changed, or when either commit has no folder at `path`: the caller lists the tree.
    ///
    /// libgit2 compares the two trees and skips every subtree whose id is the same in both, so a
    /// commit that changes one file in a tree of folders reads only the trees on its path.
    public func modifiedEntries(
        from old: String, to new: String, path: String, limit: Int
    ) throws(GitError) -> [Entry]? {
        let repository = try openRepository()
        let operation = "compare \(old.prefix(12)) with \(new.prefix(12))"
        guard let oldTree = try manifestTree(repository, commit: old, path: path, operation: operation) else {
            return nil
        }
        defer { git_tree_free(oldTree) }
        guard let newTree = try manifestTree(repository, commit: new, path: path, operation: operation) else {
            return nil
        }
        defer { git_tree_free(newTree) }
        var options = git_diff_options()
        var rc = git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION))
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        // Only which files differ is wanted: no content is read to tell text from binary.
        options.flags = GIT_DIFF_SKIP_BINARY_CHECK.rawValue
        var diff: OpaquePointer?
        rc = git_diff_tree_to_tree(&diff, repository, oldTree, newTree, &options)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        defer { git_diff_free(diff) }
        var entries: [Entry] = []
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index)?.pointee, let oldPath = delta.old_file.path,
                let newPath = delta.new_file.path
            else { return nil }
            let before = String(cString: oldPath)
            let after = String(cString: newPath)
            if Self.isUnlisted(before), Self.isUnlisted(after) { continue }
            guard delta.status == GIT_DELTA_MODIFIED, before == after, Self.isFile(delta.old_file.mode),
                Self.isFile(delta.new_file.mode)
            else { return nil }
            var id = delta.new_file.id
            entries.append(Entry(path: after, blob: LibGit2.hex(&id)))
            if entries.count > limit { return nil }
        }
        return entries
    }

    /// A path `repositoryEntries` never lists: one with a dot-named part, except the root's
    /// `.reconcileignore`.
    static func isUnlisted(_ path: String) -> Bool {
        guard path != ReconcileIgnore.fileName else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).contains { $0.hasPrefix(".") }
    }

    /// A regular file's mode (executable or not), as `repositoryEntries` lists it.
    static func isFile(_ mode: UInt16) -> Bool {
        UInt32(mode) == GIT_FILEMODE_BLOB.rawValue || UInt32(mode) == GIT_FILEMODE_BLOB_EXECUTABLE.rawValue
    }

    /// The tree at `path` in `commit` (to be freed by the caller), or nil when there is no folder there.
    private func manifestTree(
        _ repository: OpaquePointer, commit: String, path: String, operation: String
    ) throws(GitError) -> OpaquePointer? {
        var oid = git_oid()
        var rc = git_oid_fromstr(&oid, commit)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        var commitHandle: OpaquePointer?
        rc = git_commit_lookup(&commitHandle, repository, &oid)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        defer { git_commit_free(commitHandle) }
        var root: OpaquePointer?
        rc = git_commit_tree(&root, commitHandle)
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        let subpath = path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        if subpath.isEmpty { return root }
        defer { git_tree_free(root) }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, root, subpath) == 0 else { return nil }
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_filemode(entry) == GIT_FILEMODE_TREE else { return nil }
        var subtree: OpaquePointer?
        rc = git_tree_lookup(&subtree, repository, git_tree_entry_id(entry))
        guard rc == 0 else { throw GitError.last(code: rc, operation: operation) }
        return subtree
    }
}
