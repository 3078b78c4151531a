import Foundation
import ReconcileManifest
import ReconcileModel
import ReconcilePlanner
import ReconcileTesting
import Testing

@testable import ReconcileGit

let appYAML = "kind: App\nname: web\ncommand: [serve]\n"

@Suite struct GitSourceTests {
    func manifestNames(_ source: GitManifestSource) async throws -> [String] {
        let outcome = await source.poll()
        guard case .applied(let snapshot) = outcome else {
            throw FixtureError("expected a valid commit, got \(outcome)")
        }
        return snapshot.state.apps.map(\.name).sorted()
    }

    @Test func readsALocalPathAndPicksUpTheNextCommit() async throws {
        let fixture = try GitFixture("local")
        let origin = try fixture.repository()
        try origin.write("apps/web.yaml", appYAML)
        try origin.write("README.md", "not a manifest")
        let first = try origin.commit("first")
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state), ref: "main")
        guard case .applied(let snapshot) = await source.poll() else { throw FixtureError("first poll") }
        #expect(snapshot.commit == first)
        #expect(snapshot.state.apps.map(\.name) == ["web"])
        #expect(snapshot.state.locations[ResourceID(.app, "web")]?.file == "apps/web.yaml")

        guard case .unchanged(let commit, _) = await source.poll() else { throw FixtureError("second poll") }
        #expect(commit == first)

        try origin.write("apps/api.yaml", appYAML.replacingOccurrences(of: "web", with: "api"))
        let second = try origin.commit("second")
        guard case .applied(let next) = await source.poll() else { throw FixtureError("third poll") }
        #expect(next.commit == second)
        #expect(next.state.apps.map(\.name).sorted() == ["api", "web"])
    }

    @Test func aOneFileCommitDecodesOneFile() async throws {
        let fixture = try GitFixture("cache")
        let origin = try fixture.repository()
        for index in 0..<20 {
            try origin.write("apps/app-\(index).yaml", appYAML.replacingOccurrences(of: "web", with: "app-\(index)"))
        }
        try origin.commit("twenty apps")
        let source = GitManifestSource(source: GitSource(remote: origin.path, stateDirectory: fixture.state))
        #expect(try await manifestNames(source).count == 20)
        #expect(await source.decodedFiles == 20)
        try origin.write("apps/app-3.yaml", appYAML.replacingOccurrences(of: "web", with: "renamed"))
        try origin.commit("one file")
        #expect(try await manifestNames(source).contains("renamed"))
        #expect(await source.decodedFiles == 21)
    }

    /// A configuration file beside the manifests is read from the commit (never as a manifest);
    /// a commit that changes only that file is a new revision of the App; .reconcileignore in the
    /// commit keeps other YAML out; the state directory cannot be mounted.
    @Test func filesFromTheCommitAndTheIgnoreFileComeFromGit() async throws {
        let fixture = try GitFixture("files")
        let origin = try fixture.repository()
        let app = """
            kind: App
            name: api
            command: [serve]
            files:
              - { path: /etc/api/config.yaml, from: config/api.yaml }
            """
        try origin.write("api.yaml", app)
        try origin.write("config/api.yaml", "level: info\n")
        try origin.write("charts/values.yaml", "replicas: 3\n")
        try origin.write(".reconcileignore", "charts/\n")
        try origin.commit("api with its config")
        let source = GitManifestSource(source: GitSource(remote: origin.path, stateDirectory: fixture.state))
        func snapshot() async throws -> GitManifestSource.Snapshot {
            let outcome = await source.poll()
            guard case .applied(let snapshot) = outcome else {
                throw FixtureError("expected a valid commit, got \(outcome)")
            }
            return snapshot
        }
        let first = try await snapshot()
        let v1 = try #require(first.state.apps.first)
        #expect(v1.files.first?.source == .repository(path: "config/api.yaml", content: Data("level: info\n".utf8)))

        try origin.write("config/api.yaml", "level: debug\n")
        try origin.commit("config only")
        let v2 = try #require(try await snapshot().state.apps.first)
        #expect(v2.files.first?.source == .repository(path: "config/api.yaml", content: Data("level: debug\n".utf8)))
        #expect(SpecHash.of(v1) != SpecHash.of(v2))

        // Without the ignore file the chart's values are read as a manifest, and the commit is refused.
        try origin.remove(".reconcileignore")
        try origin.commit("no ignore")
        guard case .invalid(_, let diagnostics, _) = await source.poll() else {
            Issue.record("a commit whose charts/values.yaml is read as a manifest is invalid")
            return
        }
        #expect(
            diagnostics.map(\.description).contains {
                $0.hasPrefix("charts/values.yaml:1:1: error: document has no \"kind\"")
            })

        // A hostPath into the controller's state directory is refused.
        try origin.write(".reconcileignore", "charts/\n")
        try origin.write(
            "spy.yaml",
            "kind: App\nname: spy\ncommand: [cat]\nvolumes:\n  - { hostPath: \(fixture.state)/git, mount: /mirror }\n")
        try origin.commit("mount the state directory")
        guard case .invalid(_, let refused, _) = await source.poll() else {
            Issue.record("a hostPath in the state directory must be refused")
            return
        }
        #expect(refused.map(\.description).contains { $0.contains("is in or holds the controller's state directory") })
    }

    @Test func readsOverFileURLAndGitDaemon() async throws {
        let fixture = try GitFixture("daemon")
        let origin = try fixture.repository("served")
        try origin.write("web.yaml", appYAML)
        let commit = try origin.commit("first")
        let daemon = try GitDaemon(basePath: fixture.root)
        for remote in ["file://\(origin.path)", daemon.url("served")] {
            let source = GitSource(remote: remote, stateDirectory: fixture.state)
            #expect(try await source.fetch())
            #expect(try await source.resolve("main") == commit)
            #expect(try await source.repositoryEntries(commit: commit, path: "").entries.map(\.path) == ["web.yaml"])
        }
        daemon.stop()
    }

    @Test func followsAForcePushedBranchAndResolvesTagsAndShortIds() async throws {
        let fixture = try GitFixture("force")
        let origin = try fixture.repository()
        try origin.write("web.yaml", appYAML)
        let first = try origin.commit("first")
        try origin.git("tag", "v1.0")
        try origin.write("web.yaml", appYAML.replacingOccurrences(of: "serve", with: "serve2"))
        let second = try origin.commit("second")
        let source = GitSource(remote: origin.path, stateDirectory: fixture.state)
        try await source.fetch()
        #expect(try await source.resolve("main") == second)
        #expect(try await source.resolve("v1.0") == first)
        #expect(try await source.resolve(String(first.prefix(7))) == first)
        #expect(try await source.resolve(first) == first)

        // Rewrite history: main now points at a commit that does not descend from `second`.
        try origin.git("reset", "-q", "--hard", first)
        try origin.write("web.yaml", appYAML.replacingOccurrences(of: "serve", with: "rewritten"))
        let rewritten = try origin.commit("rewritten")
        #expect(try await source.fetch())
        #expect(try await source.resolve("main") == rewritten)
        #expect(try await source.fetch() == false)  // nothing new: no download
    }

    @Test func unknownRefListsTheBranches() async throws {
        let fixture = try GitFixture("refs")
        let origin = try fixture.repository()
        try origin.write("web.yaml", appYAML)
        try origin.commit("first")
        try origin.git("branch", "staging")
        let source = GitSource(remote: origin.path, stateDirectory: fixture.state)
        try await source.fetch()
        do {
            _ = try await source.resolve("production")
            Issue.record("resolved a missing ref")
        } catch {
            #expect(error.kind == .refNotFound(ref: "production", branches: ["main", "staging"]))
            #expect(error.description.contains("ref \"production\" not found; branches: main, staging"))
        }
    }

    @Test func symlinksAndSubmodulesAreRejectedAndPathSelectsAFolder() async throws {
        let fixture = try GitFixture("links")
        let library = try fixture.repository("library")
        try library.write("x.yaml", appYAML)
        try library.commit("library")
        let origin = try fixture.repository()
        try origin.write("deploy/web.yaml", appYAML)
        try origin.write("outside.yaml", appYAML.replacingOccurrences(of: "web", with: "outside"))
        try FileManager.default.createSymbolicLink(
            atPath: origin.url.appendingPathComponent("deploy/linked.yaml").path, withDestinationPath: "../outside.yaml"
        )
        try GitFixture.run(
            ["git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", library.path, "deploy/vendor"],
            in: origin.url)
        try origin.commit("links")
        let source = GitManifestSource(
            source: GitSource(remote: origin.path, stateDirectory: fixture.state), path: "deploy")
        guard case .invalid(_, let diagnostics, let inForce) = await source.poll() else {
            throw FixtureError("a tree with a symlink and a submodule must be refused")
        }
        #expect(inForce == nil)
        #expect(
            diagnostics.map(\.description) == [
                "linked.yaml:1:1: error: symbolic link in the manifest tree; links are never followed, commit the file itself",
                "vendor:1:1: error: submodule under the manifest path; manifests must live in this repository",
            ])
    }

    @Test func anInvalidCommitKeepsTheLastValidOneInForce() async throws {
        let fixture = try GitFixture("invalid")
        let origin = try fixture.repository()
        try origin.write("web.yaml", appYAML)
        let good = try origin.commit("good")
        let source = GitManifestSource(source: GitSource(remote: origin.path, stateDirectory: fixture.state))
        _ = await source.poll()
        try origin.write("web.yaml", "kind: App\nname: web\nreplicas: lots\ncommand: [serve]\n")
        let bad = try origin.commit("bad")
        guard case .invalid(let commit, let diagnostics, let inForce) = await source.poll() else {
            throw FixtureError("expected invalid")
        }
        #expect(commit == bad)
        #expect(
            diagnostics.map(\.description) == [
                "web.yaml:3:11: error: \"replicas\" must be an integer, found the value \"lots\""
            ])
        #expect(inForce?.commit == good)
    }

    @Test func anUnreachableRemoteKeepsTheLastGoodCommitAndRecovers() async throws {
        let fixture = try GitFixture("unreachable")
        let origin = try fixture.repository("served")
        try origin.write("web.yaml", appYAML)
        let good = try origin.commit("good")
        var daemon: GitDaemon? = try GitDaemon(basePath: fixture.root)
        let url = daemon!.url("served")
        let port = daemon!.port
        let source = GitManifestSource(source: GitSource(remote: url, stateDirectory: fixture.state))
        _ = await source.poll()
        daemon?.stop()
        daemon = nil
        guard case .failed(let error, let inForce) = await source.poll() else { throw FixtureError("expected failure") }
        #expect(error.kind == .unreachable)
        #expect(inForce?.commit == good)
        // A restarted controller (a new source on the same state directory) starts from the mirror.
        let restartedSource = GitManifestSource(source: GitSource(remote: url, stateDirectory: fixture.state))
        guard case .failed(_, let mirrored) = await restartedSource.poll() else {
            throw FixtureError("expected failure")
        }
        #expect(mirrored?.commit == good)
        // The daemon comes back on the same port with a new commit: the next poll applies it.
        try origin.write("api.yaml", appYAML.replacingOccurrences(of: "web", with: "api"))
        let next = try origin.commit("next")
        let restarted = try GitDaemon(basePath: fixture.root, port: port)
        defer { restarted.stop() }
        #expect(await Loopback.waitForListener(port: port))
        guard case .applied(let snapshot) = await source.poll() else { throw FixtureError("expected recovery") }
        #expect(snapshot.commit == next)
    }

    /// Every regular file under `folder` that contains `text`.
    static func files(under folder: String, containing text: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var found: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            let path = folder + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: Data(text.utf8)) != nil { found.append(relative) }
        }
        return found
    }

    @Test func aPasswordInTheURLIsNeverWrittenIntoTheMirror() async throws {
        let fixture = try GitFixture("userinfo")
        let origin = try fixture.repository("served")
        try origin.write("web.yaml", appYAML)
        let commit = try origin.commit("first")
        let secret = "pw-\(UUID().uuidString)"
        let server = try GitHTTPServer(projectRoot: fixture.root, user: "deploy", password: secret)
        let withPassword = "http://deploy:\(secret)@127.0.0.1:\(server.port)/served"
        #expect(GitSource.splitUserInfo(withPassword).url == server.url("served"))
        #expect(GitSource.splitUserInfo("ssh://git@host/repo").url == "ssh://git@host/repo")
        #expect(GitSource.splitUserInfo("ssh://git:pw@host/repo") == ("ssh://git@host/repo", "git", "pw"))

        // A fresh mirror: libgit2 gets the password from the callback only.
        let state = fixture.state + "/fresh"
        let source = GitSource(remote: withPassword, stateDirectory: state)
        #expect(try await source.fetch())
        #expect(try await source.resolve("main") == commit)
        #expect(Self.files(under: state, containing: secret) == [])

        // A mirror an older version made, named after the URL with the password in its config: it
        // is moved to the new name and its URL loses the user-info on first use.
        let older = fixture.state + "/older"
        let oldMirror = older + "/git/" + GitSource.mirrorName(for: withPassword) + ".git"
        let root = fixture.root
        _ = try await Blocking.run { try GitFixture.run(["git", "init", "-q", "--bare", oldMirror], in: root) }
        _ = try await Blocking.run {
            try GitFixture.run(["git", "-C", oldMirror, "remote", "add", "origin", withPassword], in: root)
        }
        _ = try await Blocking.run {
            try GitFixture.run(
                ["git", "-C", oldMirror, "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"], in: root)
        }
        #expect(Self.files(under: older, containing: secret) != [])
        let upgraded = GitSource(remote: withPassword, stateDirectory: older)
        #expect(try await upgraded.fetch())
        #expect(try await upgraded.resolve("main") == commit)
        #expect(Self.files(under: older, containing: secret) == [])
        #expect(!FileManager.default.fileExists(atPath: oldMirror))
    }

    @Test func httpBasicAuthWorksAndTheSecretNeverAppearsInErrors() async throws {
        let fixture = try GitFixture("http")
        let origin = try fixture.repository("served")
        try origin.write("web.yaml", appYAML)
        let commit = try origin.commit("first")
        let secret = "s3cr3t-token-\(UUID().uuidString)"
        let server = try GitHTTPServer(projectRoot: fixture.root, user: "deploy", password: secret)

        let good = GitSource(
            remote: server.url("served"), stateDirectory: fixture.state + "/good",
            credentials: GitCredentials(username: "deploy", password: .environment("GIT_TOKEN")),
            environment: ["GIT_TOKEN": secret])
        #expect(try await good.fetch())
        #expect(try await good.resolve("main") == commit)

        let wrong = GitSource(
            remote: server.url("served"), stateDirectory: fixture.state + "/wrong",
            credentials: GitCredentials(username: "deploy", password: .environment("GIT_TOKEN")),
            environment: ["GIT_TOKEN": "not-the-token"])
        do {
            try await wrong.fetch()
            Issue.record("fetch with a wrong token succeeded")
        } catch {
            #expect(error.kind == .authentication)
            #expect(!error.description.contains("not-the-token"))
        }

        // Credentials written into the URL are used by libgit2 but never shown.
        let inURL = GitSource(
            remote: "http://deploy:\(secret)@127.0.0.1:\(server.port)/missing", stateDirectory: fixture.state + "/url")
        do {
            try await inURL.fetch()
            Issue.record("fetch of a missing repository succeeded")
        } catch {
            #expect(!error.description.contains(secret), "\(error)")
            #expect(error.description.contains("http://127.0.0.1:\(server.port)/missing"))
        }
        #expect(!inURL.displayRemote.contains(secret))

        let none = GitSource(remote: server.url("served"), stateDirectory: fixture.state + "/none")
        do {
            try await none.fetch()
            Issue.record("fetch without credentials succeeded")
        } catch {
            #expect(error.kind == .authentication)
            #expect(error.description.contains("none are configured"))
        }
    }
}

@Suite struct SSHRemoteTests {
    @Test func sshKeyAndKnownHostsAuthenticateAndAnUnknownHostKeyIsRefused() async throws {
        let fixture = try GitFixture("ssh")
        let origin = try fixture.repository()
        try origin.write("web.yaml", appYAML)
        let commit = try origin.commit("first")
        let server = try SSHServer(folder: fixture.root.appendingPathComponent("sshd"))

        let good = GitSource(
            remote: server.url(origin.path), stateDirectory: fixture.state + "/good",
            credentials: GitCredentials(sshKey: server.clientKey, knownHosts: server.knownHosts))
        #expect(try await good.fetch())
        #expect(try await good.resolve("main") == commit)

        let strangerHosts = fixture.root.appendingPathComponent("stranger_hosts").path
        try
            "[127.0.0.1]:\(server.port) ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIISKGFDkwxNKL9crFZEs/wi9Ks3OEspEnm6RLCG38lws\n"
            .write(toFile: strangerHosts, atomically: true, encoding: .utf8)
        let untrusted = GitSource(
            remote: server.url(origin.path), stateDirectory: fixture.state + "/untrusted",
            credentials: GitCredentials(sshKey: server.clientKey, knownHosts: strangerHosts))
        do {
            try await untrusted.fetch()
            Issue.record("an unknown host key was accepted")
        } catch {
            #expect(error.description.contains("is not listed in \(strangerHosts)"))
        }

        let keyless = GitSource(
            remote: server.url(origin.path), stateDirectory: fixture.state + "/keyless",
            credentials: GitCredentials(knownHosts: server.knownHosts))
        do {
            try await keyless.fetch()
            Issue.record("fetch without a key succeeded")
        } catch {
            #expect(error.kind == .authentication)
        }
    }
}
