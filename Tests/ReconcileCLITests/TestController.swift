import Foundation
import ReconcileTesting

/// A `reconcile controller` a test starts on a git repository of `manifests` under `root`: state in
/// `root/state`, output in `root/controller.log`, the API on a port it picks, the token read from
/// the environment variable `tokenVariable`; its process-node workloads end with the test.
struct TestController {
    let process: ChildProcess
    let state: String
    let output: String

    var log: String { DAGCLITests.contents(output) }

    static func start(
        root: URL, manifests: String, token: String, extraArguments: [String] = [],
        environment: [String: String] = [:]
    ) throws -> TestController {
        let repository = try AlertsEndToEndTests.repository(at: root, manifests: manifests)
        let state = root.path + "/state"
        let output = root.path + "/controller.log"
        let process = try ChildProcess(
            [
                CLITests.binary.path, "controller", "--repo", repository.path, "--state", state, "--interval", "1h",
                "--tick", "500ms", "--listen", "127.0.0.1:0", "--api-token", token,
            ] + extraArguments, output: output, endsWorkloadsUnder: state, environment: environment)
        return TestController(process: process, state: state, output: output)
    }

    /// The API's port once the controller logs it listening (waited for up to 30 s), else nil.
    func port() async -> Int? {
        _ = await AlertsEndToEndTests.eventually(30) { log.contains("api: listening on http") }
        return log.split(separator: "\n").first { $0.contains("api: listening on") }?.split(separator: ":").last
            .flatMap { Int($0) }
    }
}
