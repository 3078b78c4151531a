import Foundation
import ReconcileTesting
import Testing

/// What a controller leaves reachable to the commands it starts and on its disk: a check command
/// and a health probe command see only descriptors 0-2 and only the environment they were given
/// (while the controller has a secret variable of its own), the workload does not inherit the
/// shim's log, and after the run no file under the state directory is readable by others or
/// holds a secret value.
@Suite struct SecurityEndToEndTests {
    /// Writes to $1 the descriptors above 2 this shell holds and its environment, then `done`.
    static let listing = #"""
        exec >"$1.tmp"
        for n in $(seq 3 1023); do [ -e /proc/$$/fd/$n ] && echo "fd $n $(readlink /proc/$$/fd/$n)"; done
        env | sed 's/^/env /'
        echo "umask $(umask)"
        echo done
        mv "$1.tmp" "$1"
        """#

    static func yamlList(_ items: [String]) -> String {
        "["
            + items.map {
                "\""
                    + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    .replacingOccurrences(of: "\n", with: "\\n") + "\""
            }
            .joined(separator: ", ") + "]"
    }

    @Test(.timeLimit(.minutes(4))) func commandsSeeOnlyWhatTheyAreGivenAndTheStateDirectoryIsPrivate() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("security-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let controllerSecret = "controller-only-\(UUID().uuidString)"
        let appSecret = "app-secret-\(UUID().uuidString)"
        let token = "token-\(UUID().uuidString)"
        // The controller's environment holds both secrets; the App is given only its own.
        let environment = [
            "RECONCILE_SECURITY_CONTROLLER_SECRET": controllerSecret, "RECONCILE_SECURITY_APP_SECRET": appSecret,
        ]
        let tokenReference = try TestSecrets.file(token)
        let out = root.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let manifests = """
            kind: Node
            name: here
            process: {}
            capacity: { cpu: 4, memory: 2Gi }
            ---
            kind: App
            name: probed
            command: \(Self.yamlList(["/bin/sh", "-c", "(" + Self.listing + ")\necho started\nexec sleep 1000", "sh", out + "/workload"]))
            secretEnv: { APP_SECRET: env:RECONCILE_SECURITY_APP_SECRET }
            env: { DECLARED: "yes" }
            resources: { cpu: 100m, memory: 32Mi }
            health:
              command: \(Self.yamlList(["/bin/sh", "-c", Self.listing, "sh", out + "/probe"]))
              interval: 1s
            ---
            kind: Check
            name: hygiene
            command: \(Self.yamlList(["/bin/sh", "-c", Self.listing, "sh", out + "/check"]))
            interval: 1s

            """
        let started = try TestController.start(
            root: root, manifests: manifests, token: tokenReference, environment: environment)
        let controller = started.process
        let state = started.state
        let log = { started.log }
        for name in ["workload", "probe", "check"] {
            #expect(
                await AlertsEndToEndTests.eventually(60) { FileManager.default.fileExists(atPath: out + "/" + name) },
                "\(name) never listed its descriptors: \(log())")
        }
        func listing(_ name: String) -> (fds: [String], env: [String: String]) {
            let text = DAGCLITests.contents(out + "/" + name)
            let lines = text.split(separator: "\n").map(String.init)
            var env: [String: String] = [:]
            for line in lines where line.hasPrefix("env ") {
                let pair = line.dropFirst(4).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                env[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
            }
            return (lines.filter { $0.hasPrefix("fd ") }, env)
        }
        // Variables a shell sets for itself, not inherited.
        let shellOwn: Set<String> = ["PWD", "OLDPWD", "SHLVL", "_"]
        let check = listing("check")
        #expect(check.fds == [], "the check inherited descriptors: \(check.fds)")
        #expect(Set(check.env.keys).subtracting(shellOwn).subtracting(["PATH", "LANG"]) == [], "\(check.env.keys)")
        let probe = listing("probe")
        #expect(probe.fds == [], "the probe inherited descriptors: \(probe.fds)")
        let workload = listing("workload")
        #expect(workload.fds == [], "the workload inherited descriptors (the shim's log?): \(workload.fds)")
        for seen in [probe.env, workload.env] {
            // What the manifest declared, and nothing of the controller's own environment.
            #expect(seen["DECLARED"] == "yes")
            #expect(seen["APP_SECRET"] == appSecret)
            let allowed = shellOwn.union(["PATH", "LANG", "DECLARED", "APP_SECRET"])
            let extra = Set(seen.keys).subtracting(allowed).filter { !$0.hasPrefix("PORT_") }
            #expect(extra == [], "variables that were not declared: \(extra)")
        }
        // The controller's umask (077) keeps its files private; an App's process starts with 022, as
        // in a container.
        #expect(DAGCLITests.contents(out + "/workload").contains("umask 0022"))
        #expect(DAGCLITests.contents(out + "/check").contains("umask 0077"))
        for seen in [check.env, probe.env, workload.env] {
            #expect(!seen.values.contains(controllerSecret))
            #expect(!seen.values.contains(token))
        }

        // Let the controller write its store, logs and records for a moment, then read its disk.
        #expect(
            await AlertsEndToEndTests.eventually(30) {
                FileManager.default.fileExists(atPath: state + "/logs/apps/probed")
            },
            "no App output collected: \(log())")
        let statePath = state
        var info = stat()
        #expect(stat(statePath, &info) == 0 && info.st_mode & 0o777 == 0o700, "state directory mode")
        let enumerator = FileManager.default.enumerator(atPath: statePath)
        var readable: [String] = []
        var holding: [String] = []
        var files = 0
        while let relative = enumerator?.nextObject() as? String {
            let path = statePath + "/" + relative
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK else { continue }
            if info.st_mode & 0o077 != 0 { readable.append(relative + " " + String(info.st_mode & 0o777, radix: 8)) }
            guard info.st_mode & S_IFMT == S_IFREG, let data = FileManager.default.contents(atPath: path) else {
                continue
            }
            files += 1
            for secret in [appSecret, controllerSecret, token] where data.range(of: Data(secret.utf8)) != nil {
                holding.append(relative)
            }
        }
        #expect(files > 5, "the state directory holds almost nothing: was it the right one?")
        #expect(readable == [], "readable by group or others: \(readable)")
        #expect(holding == [], "files holding a secret value: \(holding)")
        controller.signal(SIGTERM)
        #expect(await controller.wait(timeout: 60) == 0, "\(log())")
    }
}
