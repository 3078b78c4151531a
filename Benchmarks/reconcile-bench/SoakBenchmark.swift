import Foundation
import ReconcileDrivers

/// The controller (release build, next to this binary) on a generated repository of `--apps`
/// (default 200) process Apps and `--dags` (default 50) DAGs of 4 tasks every 5 minutes, for
/// `--runs` minutes (default 10): its CPU and resident memory sampled every 10 s. Idle CPU is the
/// average after a 2-minute warm-up; memory growth is the last sample against the one at warm-up.
/// With `--docker` the node is the local Docker engine and every App and task a container of the
/// test image (`reconcile-test/busybox:1`, scripts/setup builds it).
func runSoakBenchmark(_ options: Options) async throws {
    let apps = options.apps == 2000 ? 200 : options.apps
    let dags = options.dags == 300 ? 50 : options.dags
    let minutes = options.runs == 7 ? 10 : options.runs
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let reconcile = here.appendingPathComponent("reconcile").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("soak-\(UUID().uuidString)").path
    let repository = root + "/repo"
    let state = root + "/state"
    try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let docker = options.docker
    let backend = docker ? "docker: unix:///var/run/docker.sock" : "process: {}"
    // On Docker every workload runs the test image (no pulls: it is built locally).
    let image = docker ? "image: reconcile-test/busybox:1\n  pull: never\n  " : ""
    let taskImage = docker ? "image: reconcile-test/busybox:1, pull: never, " : ""
    var text = "kind: Node\nname: soak\n\(backend)\ncapacity: { cpu: 1000, memory: 1000Gi }\n"
    for index in 0..<apps {
        text += """
            ---
            kind: App
            name: app-\(index)
            \(image.isEmpty ? "" : image.replacingOccurrences(of: "\n  ", with: "\n"))command: ["/bin/sleep", "1000000"]
            resources: { cpu: 10m, memory: 8Mi }

            """
    }
    for index in 0..<dags {
        text += """
            ---
            kind: DAG
            name: dag-\(index)
            schedule: "*/5 * * * *"
            tasks:
              a: { \(taskImage)command: ["/bin/true"] }
              b: { \(taskImage)command: ["/bin/true"], after: [a] }
              c: { \(taskImage)command: ["/bin/true"], after: [a] }
              d: { \(taskImage)command: ["/bin/true"], after: [b, c] }

            """
    }
    try text.write(toFile: repository + "/all.yaml", atomically: true, encoding: .utf8)
    for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "soak"]] {
        try git(arguments, in: repository)
    }
    let controller = Process()
    controller.executableURL = URL(fileURLWithPath: reconcile)
    controller.arguments = [
        "controller", "--repo", repository, "--state", state, "--listen", "127.0.0.1:0", "--interval", "30s",
    ]
    _ = FileManager.default.createFile(atPath: root + "/controller.log", contents: nil)
    controller.standardOutput = FileHandle(forWritingAtPath: root + "/controller.log")
    controller.standardError = controller.standardOutput
    try controller.run()
    let pid = controller.processIdentifier
    func sample() -> (cpu: Double, rss: Int)? {
        guard let cpu = processCPUSeconds(pid),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        let rss =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first
            .flatMap { Int($0) } ?? 0
        return (cpu, rss)
    }
    print(
        "soak: \(apps) apps, \(dags) DAGs, \(docker ? "Docker" : "process") node, \(minutes) min; controller pid \(pid)"
    )
    print("  minute  cpu%(last 10s)  rss MiB")
    var samples: [(time: Double, cpu: Double, rss: Int)] = []
    let start = Date()
    while Date().timeIntervalSince(start) < Double(minutes) * 60 {
        try await Task.sleep(for: .seconds(10))
        guard let now = sample() else { break }
        let elapsed = Date().timeIntervalSince(start)
        let previous = samples.last
        samples.append((elapsed, now.cpu, now.rss))
        let percent = previous.map { 100 * (now.cpu - $0.cpu) / (elapsed - $0.time) } ?? 0
        print(String(format: "  %6.1f  %13.1f  %7.1f", elapsed / 60, percent, Double(now.rss) / 1024))
        fflush(nil)  // each sample as it comes, also into a file
    }
    controller.terminate()
    controller.waitUntilExit()
    let steady = samples.filter { $0.time >= 120 }
    if let first = steady.first, let last = steady.last, last.time > first.time {
        let cpu = 100 * (last.cpu - first.cpu) / (last.time - first.time)
        // Idle: the median 10 s sample (the DAG bursts every 5 minutes are a few samples above it).
        let percents = zip(steady, steady.dropFirst()).map { 100 * ($1.cpu - $0.cpu) / ($1.time - $0.time) }.sorted()
        let median = percents.isEmpty ? 0 : percents[percents.count / 2]
        print(
            String(
                format:
                    "after warm-up: idle CPU %.2f%% of one core (median 10 s sample), %.2f%% on average with the DAG runs; RSS %.1f MiB at 2 min -> %.1f MiB at the end (%+.1f MiB)",
                median, cpu, Double(first.rss) / 1024, Double(last.rss) / 1024, Double(last.rss - first.rss) / 1024))
    }
    let running =
        (try? String(contentsOfFile: root + "/controller.log", encoding: .utf8))?.components(separatedBy: "succeeded")
        .count ?? 1
    print("  DAG runs succeeded during the soak: \(running - 1)")
    if running == 1, let log = try? String(contentsOfFile: root + "/controller.log", encoding: .utf8) {
        print("  the controller's first lines:\n" + log.split(separator: "\n").prefix(12).joined(separator: "\n"))
    }
    // The App processes outlive the controller by design: remove them.
    let driver: any ContainerDriver =
        docker
        ? try DockerDriver(node: "soak", endpoint: "unix:///var/run/docker.sock")
        : try ProcessDriver(
            node: "soak", stateDirectory: state, shimPath: here.appendingPathComponent("reconcile-shim").path)
    for container in try await driver.list() { try await driver.remove(container.id) }
}
