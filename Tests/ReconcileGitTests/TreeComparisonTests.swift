import Foundation
import ReconcileManifest
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileGit

/// A poll compares the new commit's tree with the last assembly's (libgit2 skips the subtrees whose
/// ids match) instead of listing every file; only files changed in place are reassembled that way.
/// Whatever the tree change, the poll must give what a full assembly of the commit gives.
@Suite struct TreeComparisonTests {
    /// One change to the work tree; false when it does not apply now.
    struct Change: Sendable {
        var name: String
        var apply: @Sendable (WorkRepository, inout SeededGenerator) throws -> Bool
    }

    static func app(_ name: String, replicas: Int = 1) -> String {
        """
        kind: App
        name: \(name)
        command: [run, \(name)]
        replicas: \(replicas)
        resources: { cpu: 100m, memory: 64Mi }

        """
    }

    static func exists(_ origin: WorkRepository, _ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: origin.path + "/" + path)) != nil
    }

    /// Files the changes below add and move about, in folders two levels down.
    static let added = (0..<6).map { "teams/team-\($0 % 3)/extra-\($0).yaml" }

    static let changes: [Change] = [
        Change(name: "a manifest edited in place") { origin, random in
            let path = ReuseTests.files.keys.filter { $0.hasSuffix(".yaml") }.sorted()[
                Int(random.next(upperBound: UInt(7)))]
            guard let text = try? String(contentsOfFile: origin.path + "/" + path, encoding: .utf8) else {
                return false
            }
            try origin.write(path, "# edit \(random.next(upperBound: UInt(1000)))\n" + text)
            return true
        },
        Change(name: "a nested manifest added") { origin, random in
            let path = added[Int(random.next(upperBound: UInt(added.count)))]
            guard !exists(origin, path) else { return false }
            try origin.write(path, app(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent))
            return true
        },
        Change(name: "a nested manifest edited") { origin, random in
            guard let path = added.filter({ exists(origin, $0) }).randomElement(using: &random) else { return false }
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            try origin.write(path, app(name, replicas: 1 + Int(random.next(upperBound: UInt(4)))))
            return true
        },
        Change(name: "a nested manifest removed") { origin, random in
            guard let path = added.filter({ exists(origin, $0) }).randomElement(using: &random) else { return false }
            try origin.remove(path)
            return true
        },
        Change(name: "a nested manifest moved") { origin, random in
            guard let from = added.filter({ exists(origin, $0) }).randomElement(using: &random) else { return false }
            let to = from.replacingOccurrences(of: "teams/", with: "moved/")
            guard !exists(origin, to) else { return false }
            try origin.write(to, try String(contentsOfFile: origin.path + "/" + from, encoding: .utf8))
            try origin.remove(from)
            return true
        },
        Change(name: "a file under a dot-named folder") { origin, random in
            try origin.write(".github/workflows/ci.yaml", "on: push # \(random.next(upperBound: UInt(1000)))\n")
            return true
        },
        Change(name: "a dot-named manifest in a folder") { origin, random in
            try origin.write("apps/.draft.yaml", app("draft-\(random.next(upperBound: UInt(1000)))"))
            return true
        },
        Change(name: "the README") { origin, random in
            try origin.write("README.md", "The team's services, take \(random.next(upperBound: UInt(1000))).\n")
            return true
        },
        Change(name: ".reconcileignore") { origin, random in
            let ignored = ["", "apps/worker.yaml\n", "teams/team-1/\n"][Int(random.next(upperBound: UInt(3)))]
            try origin.write(ReconcileIgnore.fileName, ignored)
            return true
        },
        Change(name: "a manifest made executable") { origin, random in
            let path = "apps/worker.yaml"
            let attributes = try FileManager.default.attributesOfItem(atPath: origin.path + "/" + path)
            let mode = (attributes[.posixPermissions] as? Int) ?? 0o644
            try FileManager.default.setAttributes(
                [.posixPermissions: mode == 0o644 ? 0o755 : 0o644], ofItemAtPath: origin.path + "/" + path)
            return true
        },
        Change(name: "a symbolic link") { origin, _ in
            let link = origin.path + "/apps/alias.yaml"
            if exists(origin, "apps/alias.yaml") {
                try FileManager.default.removeItem(atPath: link)
            } else {
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "worker.yaml")
            }
            return true
        },
        Change(name: "a folder where a manifest was, and back") { origin, _ in
            let isFolder = exists(origin, "dags/report.yaml/render.yaml")
            try origin.remove("dags/report.yaml")
            if isFolder {
                try origin.write("dags/report.yaml", ReuseTests.files["dags/report.yaml"] ?? "")
            } else {
                try origin.write("dags/report.yaml/render.yaml", app("render"))
            }
            return true
        },
    ]

    @Test func aComparedTreeIsTheFullAssemblyOverRandomTreeChanges() async throws {
        let (fixture, origin, source) = try await ReuseTests.start("tree-compare")
        defer { withExtendedLifetime(fixture) {} }
        var random = SeededGenerator(seed: 20_261_203)
        var compared: Set<String> = []
        var listed: Set<String> = []
        var step = 0
        while step < 70 {
            var made: [String] = []
            for _ in 0..<(random.next(upperBound: UInt(3)) == 0 ? 2 : 1) {
                let change = Self.changes[Int(random.next(upperBound: UInt(Self.changes.count)))]
                if try change.apply(origin, &random) { made.append(change.name) }
            }
            guard !made.isEmpty else { continue }
            step += 1
            try origin.commit("step \(step)")
            let before = await source.comparedTrees
            let polled = ReuseTests.Verdict(await source.poll())
            let full = await ReuseTests.fullAssembly(of: origin, in: fixture, step: step)
            #expect(polled == full, "step \(step): \(made)")
            if await source.comparedTrees > before { compared.formUnion(made) } else { listed.formUnion(made) }
            // A refused commit is taken back by the next, so the comparisons go on from a valid base.
            if case .invalid = polled {
                try origin.git("revert", "--no-edit", "HEAD")
                let repaired = ReuseTests.Verdict(await source.poll())
                #expect(repaired == (await ReuseTests.fullAssembly(of: origin, in: fixture, step: 1000 + step)))
            }
        }
        // In-place edits, dot-named files and the README are found by comparing trees; files added,
        // removed or moved, links, folders and the ignore file make the poll list the tree.
        for name in ["a manifest edited in place", "a file under a dot-named folder", "the README"] {
            #expect(compared.contains(name), "compared: \(compared.sorted())")
        }
        for name in ["a nested manifest added", "a nested manifest removed", "a symbolic link", ".reconcileignore"] {
            #expect(listed.contains(name), "listed: \(listed.sorted())")
        }
    }

    /// A manifest path (`--path`) that is no folder of the commit fails the poll with what to check,
    /// whether a later commit is compared with the last one or listed.
    @Test func aManifestPathThatIsNoFolderFailsThePollSayingSo() async throws {
        let fixture = try GitFixture("tree-path")
        let origin = try fixture.repository()
        try origin.write("deploy/web.yaml", Self.app("web"))
        try origin.write("README.md", "services\n")
        try origin.commit("start")
        for (path, message) in [
            ("nowhere", "no folder \"nowhere\" in this commit; check --path"),
            ("README.md", "\"README.md\" is not a folder in this commit (symbolic links are not followed)"),
        ] {
            let source = GitManifestSource(
                source: GitSource(remote: origin.path, stateDirectory: fixture.state + "-\(path)"), ref: "main",
                path: path)
            guard case .failed(let error, nil) = await source.poll() else {
                Issue.record("\(path): the poll did not fail")
                continue
            }
            #expect(error.kind == .pathNotFound)
            #expect(error.message == message)
        }
        // Applied below `deploy`; a later commit that removes the folder fails, and the last stays.
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state + "-deploy"), ref: "main",
            path: "deploy")
        guard case .applied = await source.poll() else {
            Issue.record("the deploy folder applies")
            return
        }
        try origin.remove("deploy")
        try origin.commit("no deploy")
        guard case .failed(let error, let inForce) = await source.poll() else {
            Issue.record("a commit without the folder did not fail")
            return
        }
        #expect(error.kind == .pathNotFound)
        #expect(inForce?.state.apps.map(\.name) == ["web"])
    }

    /// Comparing trees reads only what changed: in a repository of folders, a one-file commit's
    /// changed entries are that file alone, and a commit touching only unlisted paths changes none.
    @Test func modifiedEntriesAreTheFilesChangedInPlace() async throws {
        let fixture = try GitFixture("tree-entries")
        let origin = try fixture.repository()
        for index in 0..<40 { try origin.write("teams/t\(index % 4)/app-\(index).yaml", Self.app("app-\(index)")) }
        let first = try origin.commit("start")
        try origin.write("teams/t2/app-6.yaml", Self.app("app-6", replicas: 3))
        try origin.write(".github/ci.yaml", "on: push\n")
        let second = try origin.commit("one file")
        try origin.write(".github/ci.yaml", "on: pull_request\n")
        try origin.write("teams/.notes", "draft\n")
        let third = try origin.commit("unlisted only")
        try origin.write("teams/t0/app-40.yaml", Self.app("app-40"))
        let fourth = try origin.commit("a file added")

        let source = GitSource(remote: origin.path, stateDirectory: fixture.state)
        try await source.fetch()
        let changed = try await source.modifiedEntries(from: first, to: second, path: "", limit: 16)
        let blob = try origin.git("rev-parse", "\(second):teams/t2/app-6.yaml")
        #expect(changed == [GitSource.Entry(path: "teams/t2/app-6.yaml", blob: blob)])
        #expect(try await source.modifiedEntries(from: second, to: third, path: "", limit: 16) == [])
        #expect(try await source.modifiedEntries(from: third, to: fourth, path: "", limit: 16) == nil)
        // Below a manifest path the entries are relative to it; a path missing in a commit is nil.
        #expect(
            try await source.modifiedEntries(from: first, to: second, path: "teams", limit: 16)?.map(\.path) == [
                "t2/app-6.yaml"
            ])
        #expect(try await source.modifiedEntries(from: first, to: second, path: "nowhere", limit: 16) == nil)
        // More than `limit` changes: nil.
        for index in 0..<3 {
            try origin.write("teams/t\(index)/app-\(index).yaml", Self.app("app-\(index)", replicas: 2))
        }
        let fifth = try origin.commit("three files")
        try await source.fetch()
        #expect(try await source.modifiedEntries(from: fourth, to: fifth, path: "", limit: 2) == nil)
        #expect(try await source.modifiedEntries(from: fourth, to: fifth, path: "", limit: 3)?.count == 3)
    }
}
