import Foundation
import ReconcileGit
import ReconcileManifest

/// Validate and poll times against the repository's size (`fileCounts` manifest files in one
/// commit, a local remote): load + validate of the whole tree, the controller's first poll (clone +
/// decode all), the no-change poll, and the poll after a one-file commit (which decodes only the
/// changed file and swaps it into the last assembly, so it should grow only with git's own transfer
/// of the commit), and after one that moves a published port (a fact other files' rules read: the
/// whole state is checked again). Baselines in the same run: Python's libyaml parse of the same
/// files, `git clone --mirror` and `git fetch` of the same remote, and fetching each commit alone.
func measureRepositoryCurve(fileCounts: [Int], repeats: Int) async throws -> Curve {
    var curve = Curve(
        id: "repository", title: "Validate and poll time vs repository size", xLabel: "manifest files",
        yLabel: "ms (median)", series: [],
        note:
            "Generated Apps, one file each (plus 8 Nodes and a Notifier), all in one folder (`apps/`) or, in "
            + "the last two columns, in folders of 100 (`apps/group-N/`); a local git remote. Median of "
            + "\(repeats) (first poll and clone: one each, a fresh state directory).")
    for files in fileCounts {
        let root = NSTemporaryDirectory() + "reconcile-scale-repo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let work = root + "/origin"
        try makeManifestRemote(files: files, at: work)
        func add(_ name: String, _ value: Double, baseline: Bool = false) {
            curve.add(name, x: Double(files), y: value * 1000, baseline: baseline)
            print(String(format: "  repository %6d files: %-36@ %9.1f ms", files, name as NSString, value * 1000))
            fflush(nil)
        }

        var validate: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let (read, extra) = try ManifestDirectory.read(root: work)
            guard ManifestLoader.load(read, extraDiagnostics: extra).state != nil else {
                throw BenchError("the generated repository is invalid")
            }
            validate.append(seconds(since: start))
        }
        add("load + validate all files", median(validate))
        add("baseline: libyaml parse (python)", try pythonParseSeconds(root: work, runs: repeats), baseline: true)

        let source = GitManifestSource(source: GitSource(remote: work, stateDirectory: root + "/state"), ref: "main")
        var start = DispatchTime.now().uptimeNanoseconds
        guard case .applied = await source.poll() else { throw BenchError("the first poll did not apply") }
        add("first poll (clone + decode all)", seconds(since: start))
        start = DispatchTime.now().uptimeNanoseconds
        try git(["clone", "-q", "--mirror", work, root + "/cli-mirror.git"], in: root)
        add("baseline: git clone --mirror", seconds(since: start), baseline: true)

        var unchanged: [Double] = []
        var fetch: [Double] = []
        for _ in 0..<repeats {
            start = DispatchTime.now().uptimeNanoseconds
            guard case .unchanged = await source.poll() else { throw BenchError("a no-change poll changed") }
            unchanged.append(seconds(since: start))
            start = DispatchTime.now().uptimeNanoseconds
            try git(["fetch", "-q", "--prune", "origin"], in: root + "/cli-mirror.git")
            fetch.append(seconds(since: start))
        }
        add("no-change poll", median(unchanged))
        add("baseline: git fetch, no change", median(fetch), baseline: true)

        let commits = try await timeOneFileCommits(source: source, work: work, root: root, runs: repeats)
        guard commits.decoded.allSatisfy({ $0 == 1 }) else {
            throw BenchError("one-file commits decoded \(commits.decoded) files")
        }
        guard commits.reused == repeats else { throw BenchError("a one-file commit was assembled in full") }
        add("one-file-commit poll", median(commits.poll))
        add("baseline: libgit2 fetch of that commit", median(commits.libgit2Fetch), baseline: true)
        add("baseline: git fetch of that commit", median(commits.cliFetch), baseline: true)
        add("one-file commit moving a published port (full assembly)", median(commits.movedPort))

        // The same one-file commits in a repository of folders of 100 Apps: git's fetch reads and
        // sends only the trees on the changed file's path, and the poll compares trees the same way.
        let nested = root + "/nested"
        try makeManifestRemote(files: files, at: nested, folderSize: 100)
        let nestedSource = GitManifestSource(
            source: GitSource(remote: nested, stateDirectory: root + "/nested-state"), ref: "main")
        guard case .applied = await nestedSource.poll() else { throw BenchError("the nested first poll did not apply") }
        try git(["clone", "-q", "--mirror", nested, root + "/nested/cli-mirror.git"], in: root)
        let inFolders = try await timeOneFileCommits(
            source: nestedSource, work: nested, root: root + "/nested", runs: repeats, folderSize: 100)
        guard inFolders.reused == repeats, await nestedSource.comparedTrees >= repeats else {
            throw BenchError("a one-file commit in folders was not reassembled from compared trees")
        }
        add("one-file-commit poll, folders of 100", median(inFolders.poll))
        add("baseline: libgit2 fetch of that commit, folders of 100", median(inFolders.libgit2Fetch), baseline: true)
    }
    return curve
}
