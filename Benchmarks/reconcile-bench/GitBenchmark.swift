import Foundation
import ReconcileGit
import ReconcileManifest

/// Polls of a local git remote holding `files` manifest files: the no-change poll (baseline: the git
/// CLI's `git fetch` of the same remote into a bare mirror) and the poll after a one-file commit
/// (baseline: decoding every file, as a source without the blob cache would).
func runGitBenchmark(_ options: Options) async throws {
    let root = NSTemporaryDirectory() + "reconcile-git-bench-\(getpid())"
    try? FileManager.default.removeItem(atPath: root)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let work = root + "/origin"
    try makeManifestRemote(files: options.files, at: work)
    let fileCount = try ManifestDirectory.read(root: work).files.count

    let source = GitManifestSource(source: GitSource(remote: work, stateDirectory: root + "/state"), ref: "main")
    var start = DispatchTime.now().uptimeNanoseconds
    guard case .applied = await source.poll() else { throw BenchError("initial poll did not apply") }
    let initial = seconds(since: start)

    var unchanged: [Double] = []
    for _ in 0..<options.runs * 5 {
        start = DispatchTime.now().uptimeNanoseconds
        guard case .unchanged = await source.poll() else { throw BenchError("no-change poll did not report unchanged") }
        unchanged.append(seconds(since: start))
    }
    // Baseline: the git CLI fetching the same remote into a bare mirror with nothing new.
    try git(["clone", "-q", "--mirror", work, root + "/cli-mirror.git"], in: root)
    var cliFetch: [Double] = []
    for _ in 0..<options.runs * 5 {
        start = DispatchTime.now().uptimeNanoseconds
        try git(["fetch", "-q", "--prune", "origin"], in: root + "/cli-mirror.git")
        cliFetch.append(seconds(since: start))
    }

    let commits = try await timeOneFileCommits(source: source, work: work, root: root, runs: options.runs)
    let (oneFile, movedPort) = (commits.poll, commits.movedPort)
    // Baseline: decoding and validating every file (what a poll without the blob cache would do).
    let (files, _) = try ManifestDirectory.read(root: work)
    var full: [Double] = []
    for _ in 0..<options.runs {
        start = DispatchTime.now().uptimeNanoseconds
        _ = ManifestLoader.load(files)
        full.append(seconds(since: start))
    }

    func ms(_ value: Double) -> String { String(format: "%.2f ms", value * 1000) }
    print("repository: \(fileCount) manifest files in one commit, local remote")
    print("first poll (clone + decode all):      \(ms(initial))")
    print("no-change poll:                       median \(ms(median(unchanged))) over \(unchanged.count)")
    print(
        "  baseline git CLI fetch, no change:  median \(ms(median(cliFetch))) (ratio \(String(format: "%.2f", median(unchanged) / median(cliFetch)))x)"
    )
    print(
        "one-file-commit poll:                 median \(ms(median(oneFile))) over \(oneFile.count); files decoded per poll: \(commits.decoded); assembled from the last assembly: \(commits.reused) of \(oneFile.count)"
    )
    print(
        "  baseline: fetching that commit alone: median \(ms(median(commits.libgit2Fetch))) (libgit2), \(ms(median(commits.cliFetch))) (git CLI)"
    )
    print(
        "one-file commit moving a published port: median \(ms(median(movedPort))) (assembled in full; reused: \(commits.reusedMoving))"
    )
    print(
        "  baseline decode+validate all files: median \(ms(median(full))) (ratio \(String(format: "%.2f", median(oneFile) / median(full)))x)"
    )
}

/// A git repository at `work` of `files` generated manifest files (8 Nodes, a Notifier, the rest
/// Apps) in one commit on `main`.
func makeManifestRemote(files: Int, at work: String, folderSize: Int? = nil) throws {
    var generated = Options([])
    generated.apps = max(0, files - 9)
    generated.dags = 0
    generated.checks = 0
    generate(generated, into: work, folderSize: folderSize)
    try git(["init", "-q", "-b", "main"], in: work)
    try git(["add", "-A"], in: work)
    try git(["commit", "-q", "-m", "initial"], in: work)
}

/// `runs` one-file commits polled by `source`, each beside the same commit fetched alone (libgit2
/// into a mirror of its own, the poll's first step; the git CLI into `root/cli-mirror.git`), then
/// `runs` commits that move a published port.
struct OneFileCommitTimes {
    var poll: [Double] = []
    var libgit2Fetch: [Double] = []
    var cliFetch: [Double] = []
    var movedPort: [Double] = []
    /// Files decoded per one-file poll.
    var decoded: [Int] = []
    /// One-file polls, and port-moving polls, assembled from the last assembly.
    var reused = 0
    var reusedMoving = 0
}

func timeOneFileCommits(
    source: GitManifestSource, work: String, root: String, runs: Int, folderSize: Int? = nil
) async throws -> OneFileCommitTimes {
    var times = OneFileCommitTimes()
    let fetchOnly = GitSource(remote: work, stateDirectory: root + "/fetch-only")
    _ = try await fetchOnly.fetch()
    let reusedBefore = await source.reusedAssemblies
    for run in 0..<runs {
        try commitOneFileChange(in: work, run: run, folderSize: folderSize)
        var start = DispatchTime.now().uptimeNanoseconds
        _ = try await fetchOnly.fetch()
        times.libgit2Fetch.append(seconds(since: start))
        start = DispatchTime.now().uptimeNanoseconds
        try git(["fetch", "-q", "--prune", "origin"], in: root + "/cli-mirror.git")
        times.cliFetch.append(seconds(since: start))
        let before = await source.decodedFiles
        start = DispatchTime.now().uptimeNanoseconds
        guard case .applied = await source.poll() else { throw BenchError("a one-file poll did not apply") }
        times.poll.append(seconds(since: start))
        times.decoded.append(await source.decodedFiles - before)
    }
    times.reused = await source.reusedAssemblies - reusedBefore
    for run in 0..<runs {
        try commitOneFileChange(in: work, run: run, movingPort: true, folderSize: folderSize)
        let start = DispatchTime.now().uptimeNanoseconds
        guard case .applied = await source.poll() else { throw BenchError("a one-file poll did not apply") }
        times.movedPort.append(seconds(since: start))
    }
    times.reusedMoving = await source.reusedAssemblies - reusedBefore - times.reused
    return times
}

/// Edits App RUN's file of the generated repository at `work` and commits that one file: its
/// replicas set to 1 and a comment line added (what the repository-wide rules read stays as it
/// was), or with `movingPort` its published port moved (which the port rule reads).
func commitOneFileChange(in work: String, run: Int, movingPort: Bool = false, folderSize: Int? = nil) throws {
    let file = work + "/" + appPath(run, folderSize: folderSize)
    let text = try String(contentsOfFile: file, encoding: .utf8)
    let edited =
        movingPort
        ? text.replacingOccurrences(of: "publish: \(20000 + run)", with: "publish: \(10000 + run)")
        : text.replacingOccurrences(of: "replicas: ", with: "replicas: 1\n# was ")
    guard edited != text else { throw BenchError("\(file): the edit changed nothing") }
    try edited.write(toFile: file, atomically: true, encoding: .utf8)
    try git(["commit", "-q", "-am", "change \(run)"], in: work)
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

func git(_ arguments: [String], in directory: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchError("git \(arguments) failed") }
}
